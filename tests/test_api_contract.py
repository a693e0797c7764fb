"""The REST API keeps its OpenAPI contract: schemathesis, with every check it has and all its
phases (the schema's examples, coverage, fuzzing, stateful), against the application as a
customer's admin, as a viewer and without a token, on a customer with real terminals,
extensions and numbers. Any finding fails the test; the budget and the seed are fixed.

The stateful phase follows links schemathesis infers from the document (``POST /terminals/``
answers an ``id``, ``/terminals/{terminal_id}`` takes one), so the document declares none.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.db import connections
from schemathesis.engine import Status, StopReason, events, from_schema
from werkzeug.serving import make_server

from cloudpbx.accounts.services import create_api_token
from cloudpbx.extensions.services import create_extension
from cloudpbx.numbering.services import add_number, add_number_block
from cloudpbx.sip import status
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals import services
from cloudpbx.terminals.services import DeviceSettings
from cloudpbx.testing import make_tenant, make_user

SCHEMA = "/api/v1/openapi.json"
BUDGET = 12  # examples per operation and phase: the module runs in about 50 s on 2 cores

CONFIG: dict[str, Any] = {
    "seed": 20260101,
    "workers": 1,
    "generation": {
        "max-examples": BUDGET,
        "deterministic": True,
        "database": "none",  # nothing written into the repository
    },
    "phases": {"stateful": {"max-steps": 6}},
    "checks": {
        "enabled": True,
        # A schema-valid request may still break a rule the schema cannot express: a name
        # already taken, a reserved short number, a number or extension this customer does
        # not have, a password the vendor's phone cannot store. Those are documented 422s.
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422"],
        },
    },
}


# All of schemathesis' checks but max_response_time, which needs a limit and is not about the
# contract.
EVERY_CHECK = {
    "allow_header_conformance",
    "content_type_conformance",
    "ensure_resource_availability",
    "ignored_auth",
    "missing_required_header",
    "negative_data_rejection",
    "not_a_server_error",
    "object_level_authorization",
    "positive_data_acceptance",
    "response_headers_conformance",
    "response_schema_conformance",
    "status_code_conformance",
    "unsupported_method",
    "use_after_free",
}


@pytest.fixture(autouse=True, scope="module")
def _hypothesis_files_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis keeps caches (constants, Unicode tables) under ``.hypothesis`` in the working
    directory even without an example database: here they go to a temporary dir, shared by
    this module's runs."""
    from hypothesis import configuration

    configuration.set_hypothesis_home_dir(str(tmp_path_factory.mktemp("hypothesis")))
    yield
    configuration.set_hypothesis_home_dir(None)


def application(environ: dict[str, Any], start_response: Any) -> Any:
    """The WSGI app, closing the serving thread's database connections after each request (the
    test database must have none left open when it is flushed or dropped)."""
    from cloudpbx.wsgi import application as django_application

    try:
        return list(django_application(environ, start_response))
    finally:
        connections.close_all()


@pytest.fixture
def base_url(transactional_db: None) -> Iterator[str]:
    """The app on a loopback port, served from a thread of this process.

    Not schemathesis' in-process WSGI transport: in 4.32 its checks that re-send a request
    without credentials (ignored_auth) hand werkzeug a ``max_redirects`` argument it does not
    take, so that check could never run. Committed data (transactional_db) is what a second
    thread can read, on SQLite and PostgreSQL alike.
    """
    server = make_server("127.0.0.1", 0, application, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def registrations_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kamailio's answer for a PBX where no phone is registered right now (no Kamailio runs
    here): the status is 200 and offline, a resync a 409, instead of a 503 for every call."""
    monkeypatch.setattr(
        status, "registrations", lambda usernames: {name: status.OFFLINE for name in usernames}
    )


def customer_with_data() -> Tenant:
    tenant = make_tenant("Muster GmbH", country="DE")
    add_number(tenant, e164="+493012345600", is_main=True)
    add_number_block(tenant, first="+493012345601", count=4)
    extensions = [
        create_extension(tenant, number=number, name=f"Ext {number}")
        for number in ("10", "11", "20", "21", "30")
    ]
    for index in range(2):
        services.create_terminal(tenant, name=f"App {index}", type="app", generate_credentials=True)
        services.create_terminal(
            tenant, name=f"Desk {index}", type="ip_phone", generate_credentials=True
        )
        services.create_terminal(
            tenant,
            name=f"Auto {index}",
            type="ip_phone",
            config_mode="automatic",
            device=DeviceSettings("yealink", "T54W", f"80:5e:c0:00:00:0{index + 1}"),
            ringing_extensions=extensions[index : index + 2],
        )
        services.create_terminal(
            tenant,
            name=f"Mobile {index}",
            type="external",
            external_number=f"01512345678{index}",
            ringing_extensions=extensions[2:3],
        )
    services.create_terminal(
        tenant,
        name="Gigaset",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings("gigaset", "N870", "7c:2f:80:e0:d6:05", auth_mode="trusted_ip",
                              trusted_networks=["203.0.113.0/24"]),
    )  # fmt: skip
    return tenant


@dataclass
class Run:
    """What schemathesis did: the answers per operation, the findings, the phases that ran."""

    answers: dict[str, collections.Counter[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    findings: list[str] = field(default_factory=list)
    phases: dict[str, Status] = field(default_factory=dict)
    scenarios: collections.Counter[str] = field(default_factory=collections.Counter)
    checks: set[str] = field(default_factory=set)
    stop_reason: StopReason | None = None

    def record(self, event: events.EngineEvent) -> None:
        if isinstance(event, events.ScenarioFinished):
            self.scenarios[event.phase.value] += 1
            for case_id, interaction in event.recorder.interactions.items():
                if interaction.response is not None:
                    case = event.recorder.cases[case_id].value
                    if case.method.upper() != case.operation.method.upper():
                        continue  # unsupported_method's probe (405 before any auth)
                    label = f"{case.method} {case.operation.path.removeprefix('/api/v1')}"
                    self.answers[label][interaction.response.status_code] += 1
            for checks in event.recorder.checks.values():
                for check in checks:
                    self.checks.add(check.name)
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        self.findings.append(
                            f"{check.name} on {failure.operation}: {failure.title}\n"
                            f"{failure.message}\n{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            self.findings.append(
                f"error in {event.label}: {event.info.title}\n{event.info.message}"
            )
        elif isinstance(event, events.FatalError):
            self.findings.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.PhaseFinished):
            self.phases[event.phase.name.value] = event.status
        elif isinstance(event, events.EngineFinished):
            self.stop_reason = event.stop_reason
            self.findings.extend(f"after run: {failure.title}" for failure in event.failures)

    def statuses(self, prefix: str) -> set[int]:
        return {
            code
            for label, codes in self.answers.items()
            if label.startswith(prefix)
            for code in codes
        }


def documented_operations() -> set[str]:
    from cloudpbx.api import api

    paths = api.get_openapi_schema()["paths"]
    return {
        f"{method.upper()} {path.removeprefix('/api/v1')}"
        for path, operations in paths.items()
        for method in operations
    }


def run_schemathesis(url: str, token: str | None) -> Run:
    config = dict(CONFIG)
    if token is not None:
        config["auth"] = {"openapi": {"TokenAuth": {"bearer": token}}}
    schema = schemathesis.openapi.from_url(
        url + SCHEMA, config=schemathesis.Config.from_dict(config)
    )
    run = Run()
    for event in from_schema(schema).execute():
        run.record(event)
    return run


def assert_no_findings(run: Run) -> None:
    unique = list(dict.fromkeys(run.findings))
    assert not unique, f"{len(unique)} finding(s):\n\n" + "\n\n".join(unique)
    assert run.stop_reason == StopReason.COMPLETED


def token_for(tenant: Tenant, role: str) -> str:
    return create_api_token(make_user(tenant, role), tenant, "contract")[1]


def test_as_admin(base_url, registrations_offline):
    tenant = customer_with_data()
    run = run_schemathesis(base_url, token_for(tenant, "admin"))
    assert_no_findings(run)
    for phase in ("examples", "coverage", "fuzzing", "stateful"):
        assert run.phases.get(phase) == Status.SUCCESS, (phase, run.phases)
        assert run.scenarios[phase] > 0, (phase, run.scenarios)
    # Not vacuous: the admin's requests were served, not only refused.
    assert set(run.answers) == documented_operations()
    assert run.checks == EVERY_CHECK, EVERY_CHECK ^ run.checks
    for operation, success in {
        "GET /terminals/": 200,
        "GET /terminals/{terminal_id}": 200,
        "POST /terminals/": 201,
        "PATCH /terminals/{terminal_id}": 200,
        "DELETE /terminals/{terminal_id}": 204,
        "GET /terminals/{terminal_id}/credentials": 200,
        "GET /terminals/{terminal_id}/status": 200,
        "POST /terminals/{terminal_id}/sip-password": 200,
        "GET /extensions/": 200,
        "GET /extensions/{extension_id}": 200,
        "POST /extensions/": 201,
        "PATCH /extensions/{extension_id}": 200,
        "GET /numbers/": 200,
        "GET /numbers/{number_id}": 200,
        "PATCH /numbers/{number_id}": 200,
    }.items():
        assert success in run.answers[operation], (operation, dict(run.answers[operation]))


def test_as_viewer(base_url, registrations_offline):
    tenant = customer_with_data()
    run = run_schemathesis(base_url, token_for(tenant, "viewer"))
    assert_no_findings(run)
    assert 200 in run.answers["GET /terminals/{terminal_id}"]
    assert 200 in run.answers["GET /extensions/"]
    for write in ("POST /terminals/", "PATCH /terminals/{terminal_id}", "POST /extensions/"):
        assert 403 in run.answers[write], (write, dict(run.answers[write]))
    assert 200 not in run.statuses("POST") | run.statuses("PATCH")
    assert 403 in run.answers["GET /terminals/{terminal_id}/credentials"]


def test_without_token(base_url, registrations_offline):
    customer_with_data()
    run = run_schemathesis(base_url, None)
    assert_no_findings(run)
    assert set(run.answers) == documented_operations()
    for operation, codes in run.answers.items():
        assert 401 in codes, (operation, dict(codes))
        assert not {code for code in codes if code < 300}, (operation, dict(codes))


# --- the policies the contract states, one test each ----------------------------------------


def input_schemas() -> dict[str, dict[str, Any]]:
    """Every object schema a request body or query of the API uses."""
    from cloudpbx.api import api

    document = api.get_openapi_schema()
    return {
        name: schema
        for name, schema in document["components"]["schemas"].items()
        if name.endswith(("In", "Patch", "Filter"))
    }


def test_every_input_schema_refuses_unknown_fields_in_the_document():
    schemas = input_schemas()
    assert {"TerminalIn", "TerminalPatch", "ExtensionIn", "NumberIn", "PasswordIn"} <= set(schemas)
    for name, schema in schemas.items():
        assert schema.get("additionalProperties") is False, name


def test_every_operation_documents_401_and_422_with_their_bodies():
    from cloudpbx.api import api

    for path, operations in api.get_openapi_schema()["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            for code, body in ((401, "Message"), (422, "ValidationErrors")):
                schema = answers[code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{body}"}, (method, path, code)


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/api/v1/extensions/", {"number": "40", "nmae": "Typo"}, ["body", "nmae"]),
        (
            "/api/v1/terminals/",
            {"name": "Desk", "type": "app", "outbound": {"caller_id": "anonymous"}},
            ["body", "outbound", "caller_id"],
        ),
    ],
)
def test_an_unknown_field_is_a_422_naming_it_and_saves_nothing(api, path, body, loc):
    before = api.get(path).json_body["count"]
    response = api.post(path, body)
    assert response.status_code == 422, response.json_body
    assert response.json_body["detail"] == [
        {"loc": loc, "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
    assert api.get(path).json_body["count"] == before


def test_error_bodies_are_the_documented_shapes(api, tenant):
    from django.test import Client

    from cloudpbx.testing import api_client

    assert Client().get("/api/v1/terminals/").json() == {"detail": "Unauthorized"}
    assert api.get("/api/v1/terminals/999999").json_body == {"detail": "Not Found"}
    viewer = api_client(tenant, role="viewer")
    forbidden = viewer.post("/api/v1/extensions/", {"number": "40"})
    assert forbidden.status_code == 403
    assert set(forbidden.json_body) == {"detail"}
    not_an_id = api.get("/api/v1/terminals/abc")
    assert not_an_id.status_code == 422
    assert not_an_id.json_body["detail"][0]["loc"] == ["path", "terminal_id"]
    assert api.post("/api/v1/extensions/", {"number": True}).status_code == 422  # strict JSON

"""What an operator watches on a running PBX: ``/metrics`` as Prometheus scrapes it (with the
scrape config and the Grafana dashboard of deploy/), who may read it, and JSON log lines whose
request id follows a portal change through the SIP cache flush to the phone's re-sync."""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import secrets
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloudpbx.provisioning.testing import fetch_config, phone_request, urllib_getter
from tests.processes import free_port
from tests.sip.wire import Peer, code, header, reply
from tests.test_cli import run_environment, start_run, stop_run

ROOT = Path(__file__).resolve().parent.parent
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "cloudpbx-dashboard.json"
PROXY = "127.0.0.2"  # the run's trusted reverse proxy, on this machine


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def ask(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: object = None,
    headers: dict[str, str] | None = None,
    tls_ca: str | None = None,
    source: str = "127.0.0.1",
) -> Answer:
    """One request to the run on loopback, from ``source``; over HTTPS when ``tls_ca`` is set."""
    if tls_ca:
        context = ssl.create_default_context(cafile=tls_ca)
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=10, context=context, source_address=(source, 0)
        )
    else:
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=10, source_address=(source, 0)
        )
    sent = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        headers = {name.lower(): text for name, text in response.getheaders()}
        return Answer(response.status, headers, response.read())
    finally:
        connection.close()


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus' text format parsed: (sample name, sorted labels) → value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@dataclasses.dataclass
class Observed:
    metrics: str
    access: dict[str, int]  # who asked → the status /metrics answered
    not_found_body: bytes
    denied_body: bytes
    prometheus_up: float
    prometheus_registered: float
    request_id: str
    terminal_id: int
    output: str
    secrets: tuple[str, ...]


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> Iterator[Observed]:
    """One ``cloudpbx run`` with JSON logs, a metrics token and a reverse proxy at
    127.0.0.2: a phone registers, a stranger guesses, the phone fetches its file, the API
    changes the phone (which is re-synced); then Prometheus scrapes and the run stops."""
    data_dir = tmp_path_factory.mktemp("observed")
    token = secrets.token_urlsafe(32)
    env = run_environment(data_dir)
    env.update(
        CLOUDPBX_LOG_FORMAT="json",
        CLOUDPBX_METRICS_TOKEN=token,
        CLOUDPBX_TRUSTED_PROXIES=PROXY,
    )
    running = start_run(data_dir, env)
    phone = Peer(("127.0.0.1", int(env["CLOUDPBX_SIP_PORT"])))
    stranger = Peer(("127.0.0.1", int(env["CLOUDPBX_SIP_PORT"])))
    try:
        demo = json.loads((data_dir / "demo.json").read_text())
        api = {"Authorization": f"Bearer {demo['api_token']}"}
        listed = ask(running.https_port, "/api/v1/terminals/", headers=api, tls_ca=running.ca)
        yealink = next(t for t in json.loads(listed.body)["items"] if t["name"] == "Büro Yealink")
        path = f"/api/v1/terminals/{yealink['id']}"
        revealed = ask(running.https_port, f"{path}/credentials", headers=api, tls_ca=running.ca)
        credentials = json.loads(revealed.body)
        sip, prov = credentials["sip"], credentials["provisioning"]

        assert code(phone.register(sip["username"], sip["password"])) == 200
        assert code(stranger.register(sip["username"], "not-the-password")) == 401
        fetch_config(
            urllib_getter(running.portal, cafile=running.ca),
            phone_request("yealink", "T54W", yealink["provisioning"]["mac"]),
            prov["username"],
            prov["password"],
        )
        changed = ask(
            running.https_port, path, method="PATCH", body={"name": "Büro Yealink 2"},
            headers=api, tls_ca=running.ca,
        )  # fmt: skip
        assert changed.status == 200, changed.body
        request_id = changed.headers["x-request-id"]
        notify = phone.receive(timeout=20)  # sent by the job worker, through Kamailio
        assert notify is not None and notify.startswith("NOTIFY "), notify
        assert header(notify, "Event") == ["check-sync;reboot=false"]
        phone.send(reply(notify, 200, "OK"))

        metrics = _scrape_once_counted(running.port)
        forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        bearer = {"Authorization": f"Bearer {token}"}
        wrong = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
        https, plain, ca = running.https_port, running.port, running.ca
        access = {
            "this machine, plain HTTP": ask(plain, "/metrics").status,
            "this machine, HTTPS": ask(https, "/metrics", tls_ca=ca).status,
            "through the proxy, no token": ask(
                https, "/metrics", headers=forwarded, tls_ca=ca, source=PROXY
            ).status,
            "through the proxy, wrong token": ask(
                https, "/metrics", headers=forwarded | wrong, tls_ca=ca, source=PROXY
            ).status,
            "through the proxy, token": ask(
                https, "/metrics", headers=forwarded | bearer, tls_ca=ca, source=PROXY
            ).status,
            "through the proxy, token over plain HTTP": ask(
                plain,
                "/metrics",
                source=PROXY,
                headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"} | bearer,
            ).status,
            "the proxy's own request, no token": ask(
                https, "/metrics", tls_ca=ca, source=PROXY
            ).status,
        }
        denied = ask(https, "/metrics", headers=forwarded, tls_ca=ca, source=PROXY).body
        not_found = ask(https, "/metrica", headers=forwarded, tls_ca=ca, source=PROXY).body
        up, registered = _prometheus_scrapes(data_dir, plain)
    finally:
        phone.close()
        stranger.close()
        output = stop_run(running)
    yield Observed(
        metrics=metrics,
        access=access,
        not_found_body=not_found,
        denied_body=denied,
        prometheus_up=up,
        prometheus_registered=registered,
        request_id=request_id,
        terminal_id=yealink["id"],
        output=output,
        secrets=(sip["password"], prov["password"], token),
    )


def _scrape_once_counted(port: int) -> str:
    """/metrics once the job worker's re-sync is counted (it runs after the NOTIFY left)."""
    deadline = time.monotonic() + 20
    while True:
        text = ask(port, "/metrics").body.decode()
        samples = scraped(text)
        if value(samples, "cloudpbx_jobs_finished_total", job="resync_job", outcome="ok"):
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.2)


def _prometheus_scrapes(data_dir: Path, port: int) -> tuple[float, float]:
    """A real Prometheus with deploy/'s scrape config (target and interval made the test's):
    its view of ``up`` and of the registered accounts."""
    config = SCRAPE_CONFIG.read_text()
    assert '"127.0.0.1:8000"' in config and "scrape_interval: 15s" in config
    config = config.replace('"127.0.0.1:8000"', f'"127.0.0.1:{port}"')
    config = config.replace("scrape_interval: 15s", "scrape_interval: 1s")
    config_file = data_dir / "prometheus.yml"
    config_file.write_text(config)
    checked = subprocess.run(
        ["promtool", "check", "config", str(config_file)], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listen = f"127.0.0.1:{free_port()}"
    prometheus = subprocess.Popen(
        [
            "prometheus", f"--config.file={config_file}", f"--web.listen-address={listen}",
            f"--storage.tsdb.path={data_dir / 'prometheus'}",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            up = _query(listen, 'up{job="cloudpbx"}')
            registered = _query(listen, "cloudpbx_sip_registered_accounts")
            if up is not None and registered is not None:
                return up, registered
            assert prometheus.poll() is None, prometheus.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "Prometheus scraped nothing in 30 s"
            time.sleep(0.3)
    finally:
        prometheus.terminate()
        prometheus.wait(15)


def _query(listen: str, expression: str) -> float | None:
    host, port = listen.split(":")
    try:
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("GET", "/api/v1/query?" + urllib.parse.urlencode({"query": expression}))
        answer = json.loads(connection.getresponse().read())
    except (OSError, ValueError):
        return None  # not listening yet
    results = answer.get("data", {}).get("result", [])
    return float(results[0]["value"][1]) if results else None


# --- /metrics ----------------------------------------------------------------------------------


def test_metrics_count_what_happened(observed):
    samples = scraped(observed.metrics)
    # The SIP side: the router's counters and Kamailio's own.
    assert value(samples, "cloudpbx_sip_registers_total", result="accepted") >= 1
    assert value(samples, "cloudpbx_sip_registers_total", result="challenged") >= 3
    assert value(samples, "cloudpbx_sip_auth_failures_total") >= 1
    assert value(samples, "cloudpbx_sip_registered_accounts") >= 1
    assert value(samples, "cloudpbx_sip_registered_contacts") >= 1
    assert value(samples, "cloudpbx_sip_requests_total", method="REGISTER") >= 4
    assert value(samples, "cloudpbx_sip_replies_sent_total", **{"class": "4xx"}) >= 3
    assert ("cloudpbx_sip_dialogs_active", ()) in samples
    assert value(samples, "cloudpbx_sip_memory_used_bytes") > 0
    # Provisioning: the challenge, then the file served.
    assert value(samples, "cloudpbx_provisioning_fetches_total", vendor="yealink",
                 result="challenge") >= 1  # fmt: skip
    assert value(samples, "cloudpbx_provisioning_fetches_total", vendor="yealink",
                 result="served") >= 1  # fmt: skip
    # The web side, summed over both web workers: the PATCH and its latency.
    patched = [
        labels for (name, labels), count in samples.items()
        if name == "cloudpbx_http_requests_total" and count >= 1
        and dict(labels)["method"] == "PATCH" and dict(labels)["status"] == "200"
    ]  # fmt: skip
    assert len(patched) == 1, patched
    view = dict(patched[0])["view"]
    assert value(samples, "cloudpbx_http_request_duration_seconds_count", view=view) >= 1
    # The job worker's count (another process) and the queue.
    assert value(samples, "cloudpbx_jobs_finished_total", job="resync_job", outcome="ok") >= 1
    assert ("cloudpbx_jobs_queued", ()) in samples
    # rtpengine answered, every part is well.
    assert ("cloudpbx_media_sessions_total", ()) in samples
    for part in ("database", "jobs", "kamailio", "rtpengine"):
        assert value(samples, "cloudpbx_part_up", part=part) == 1


def test_metrics_are_well_formed_for_promtool(observed):
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=observed.metrics, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_prometheus_scrapes_with_the_deployed_config(observed):
    assert observed.prometheus_up == 1
    assert observed.prometheus_registered >= 1


def test_only_this_machine_or_the_token_over_https_reads_metrics(observed):
    assert observed.access == {
        "this machine, plain HTTP": 200,
        "this machine, HTTPS": 200,
        "through the proxy, no token": 404,
        "through the proxy, wrong token": 404,
        "through the proxy, token": 200,
        "through the proxy, token over plain HTTP": 404,
        # A proxy on this machine that forwards no client could be forwarding anybody.
        "the proxy's own request, no token": 404,
    }
    # Refused as a page that does not exist: nothing says there is something to guess (the
    # page differs only by its CSRF token and the path it would log in to).
    assert _without_tokens(observed.denied_body).replace(b"/metrics", b"/metrica") == (
        _without_tokens(observed.not_found_body)
    )


def _without_tokens(page: bytes) -> bytes:
    return re.sub(rb"[A-Za-z0-9]{64}", b"TOKEN", page)


def test_the_dashboard_asks_only_for_metrics_that_exist(observed):
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    asked = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for expression in expressions
        for name in re.findall(r"\bcloudpbx_[a-z0-9_]+", expression)
    }
    exposed = {
        re.sub(r"_(bucket|sum|count)$", "", name) for name, _labels in scraped(observed.metrics)
    }
    assert len(asked) >= 15
    assert asked <= exposed, asked - exposed


# --- logs ---------------------------------------------------------------------------------


def _log_entries(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_every_line_of_ours_is_one_json_object(observed):
    entries = _log_entries(observed.output)
    assert len(entries) >= 10
    for entry in entries:
        assert set(entry) >= {"time", "level", "logger", "message", "request_id"}, entry
    loggers = {entry["logger"] for entry in entries}
    # The web workers, the job worker and the router inside Kamailio log alike.
    assert {
        "cloudpbx.core.events",
        "cloudpbx.sip.notify",
        "cloudpbx.provisioning.services.resync",
    } <= (loggers)


def test_the_request_id_follows_the_change_to_the_phones_re_sync(observed):
    followed = [
        entry["message"]
        for entry in _log_entries(observed.output)
        if entry["request_id"] == observed.request_id
    ]
    assert any(m.startswith("event terminal.changed") for m in followed), followed
    assert any(m.startswith("SIP directory cache flushed") for m in followed), followed
    # Written by the job worker, another process, after the portal's request had ended.
    assert f"re-sync of terminal {observed.terminal_id}: 1 of 1 contacts notified" in followed


def test_no_secret_reaches_the_logs(observed):
    for secret in observed.secrets:
        assert secret not in observed.output

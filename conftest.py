"""Fixtures shared by every test package (src/cloudpbx/*/tests and tests/)."""

from __future__ import annotations

import pytest

from cloudpbx.extensions.services import create_extension
from cloudpbx.numbering.services import add_number, add_number_block
from cloudpbx.testing import api_client, make_tenant


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """The manifest storage needs ``collectstatic``, which ``cloudpbx run`` does; tests don't."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _no_kamailio_unless_asked(settings):
    """Tests without a Kamailio of their own must not flush a Kamailio running on this machine."""
    settings.CLOUDPBX_KAMAILIO_RPC_URLS = []


@pytest.fixture(autouse=True)
def _jobs_inline_and_no_vendor_calls():
    """Background jobs run inline, in the test's database; a redirect-service call to any host
    but this machine fails the test (the adapters' defaults are the vendors' real services)."""
    from urllib.parse import urlsplit

    from cloudpbx.core.jobs import huey
    from cloudpbx.provisioning.redirect_clients import http

    def loopback_only(url: str) -> None:
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            pytest.fail(f"a test tried to reach {host}: only loopback fakes are allowed")

    huey.immediate = True
    http.before_send = loopback_only
    yield
    http.before_send = None


@pytest.fixture
def queued_jobs():
    """Jobs go to the real queue (in the test database) instead of running inline."""
    from cloudpbx.core.jobs import huey

    huey.immediate = False
    yield
    huey.storage.flush_queue()
    huey.storage.flush_schedule()
    huey.immediate = True


@pytest.fixture
def tenant(db):
    """A German customer with a main number, two more numbers and extensions 10, 11, 20."""
    tenant = make_tenant("Muster GmbH", country="DE")
    add_number(tenant, e164="+493012345600", is_main=True)
    add_number_block(tenant, first="+493012345601", count=2)
    for number in ("10", "11", "20"):
        create_extension(tenant, number=number, name=f"Ext {number}")
    return tenant


@pytest.fixture
def french_tenant(db):
    tenant = make_tenant("Exemple SARL", country="FR")
    add_number(tenant, e164="+33140000000", is_main=True)
    create_extension(tenant, number="10", name="Accueil")
    return tenant


@pytest.fixture
def api(tenant):
    return api_client(tenant)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of several nodes need the database they share: on SQLite they are deselected
    (and counted as such in the summary), never skipped; the PostgreSQL run has them."""
    from django.conf import settings

    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return
    deselected = [item for item in items if item.get_closest_marker("postgresql")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a gap, not a pass: ./cloudpbx.sh installs every tool the tests use,
    so a skip means something is missing, and the run fails saying which."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and session.exitstatus == 0:
        for report in skipped:
            reporter.write_line(f"SKIPPED (counted as a failure): {report.nodeid}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

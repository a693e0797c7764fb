"""``/healthz`` and ``cloudpbx check`` in-process, with nothing but the database running (the
whole PBX answering 200 is in tests/test_cli.py)."""

import dataclasses
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from cloudpbx import health
from cloudpbx.core import jobs
from cloudpbx.core.models import Heartbeat
from tests.processes import free_port


@pytest.fixture
def node(settings, monkeypatch):
    """A node whose Kamailio and rtpengine do not run (ports nobody listens on)."""
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG, sip_rpc_port=free_port(), media_ng_port=free_port()
    )
    monkeypatch.setattr(health, "_cached", (-health.CACHE_SECONDS, {}))  # nothing cached


def beat(seconds_ago: float) -> None:
    Heartbeat.objects.update_or_create(
        name=jobs.worker_name(),
        defaults={"beat_at": timezone.now() - timedelta(seconds=seconds_ago)},
    )


def test_healthz_names_every_part_that_fails(db, node):
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "status": "failing",
        "failing": ["jobs", "kamailio", "rtpengine"],
        "parts": {
            "database": "ok",
            "jobs": "not running",
            "kamailio": "not running",
            "rtpengine": "not running",
        },
    }


def test_a_job_worker_is_well_while_it_beats(db, node):
    beat(seconds_ago=1)
    assert Client().get("/healthz").json()["parts"]["jobs"] == "ok"
    beat(seconds_ago=3 * jobs.HEARTBEAT_SECONDS + 5)
    health._cached = (-health.CACHE_SECONDS, {})
    assert Client().get("/healthz").json()["parts"]["jobs"] == "silent for 35 s"


def test_probes_are_answered_from_a_short_cache(db, node):
    assert Client().get("/healthz").json()["parts"]["jobs"] == "not running"
    beat(seconds_ago=0)
    # Within two seconds a flood of probes does not reach Kamailio and rtpengine again.
    assert Client().get("/healthz").json()["parts"]["jobs"] == "not running"


def test_liveness_needs_only_the_web_worker(db, node):
    assert Client().get("/healthz/live").json() == {"status": "ok"}


def test_check_prints_the_parts_and_fails(db, node, capsys):
    with pytest.raises(CommandError, match="failing: jobs, kamailio, rtpengine"):
        call_command("check")
    output = capsys.readouterr().out
    assert "System check identified no issues" in output
    assert "database   ok" in output
    assert "kamailio   not running" in output

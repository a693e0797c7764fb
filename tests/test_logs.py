"""Log lines (``cloudpbx.logs``): JSON when asked, the request id of every web request, kept by
the jobs it queues; ``cloudpbx run`` end to end is in test_observability.py."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from prometheus_client import REGISTRY

from cloudpbx import config, logs
from cloudpbx.core import jobs
from cloudpbx.core.jobs import db_task, huey

seen: list[str] = []


@db_task()
def remember_request_id() -> None:
    seen.append(logs.current_request_id())


@db_task()
def always_fails() -> None:
    raise RuntimeError("broken on purpose")


def _record(message: str, exc_info=None) -> logging.LogRecord:
    record = logging.LogRecord("cloudpbx.test", logging.ERROR, __file__, 1, message, (), exc_info)
    logs.RequestIdFilter().filter(record)
    return record


def test_a_json_line_holds_the_event_its_request_and_a_traceback_on_one_line():
    try:
        raise ValueError("bad value")
    except ValueError:
        exc_info = sys.exc_info()
    with logs.request_id("0123456789abcdef"):
        line = logs.JsonFormatter().format(_record('terminal 7 "changed"\nsecond line', exc_info))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == 'terminal 7 "changed"\nsecond line'
    assert entry["request_id"] == "0123456789abcdef"
    assert entry["level"] == "ERROR" and entry["logger"] == "cloudpbx.test"
    assert entry["time"].endswith("+00:00")
    assert "ValueError: bad value" in entry["exception"]


def test_outside_a_request_the_id_is_a_dash_and_a_malformed_one_is_not_kept():
    assert json.loads(logs.JsonFormatter().format(_record("x")))["request_id"] == "-"
    with logs.request_id('evil"\nid'):
        assert logs.current_request_id() == "-"


def test_the_plain_format_names_the_request_too():
    formatter = logging.Formatter(logs.configuration("plain")["formatters"]["plain"]["format"])
    with logs.request_id("0123456789abcdef"):
        assert "[0123456789abcdef] hello" in formatter.format(_record("hello"))


def test_an_unknown_log_format_stops_the_start(monkeypatch):
    monkeypatch.setenv("CLOUDPBX_LOG_FORMAT", "xml")
    with pytest.raises(config.ConfigError, match="CLOUDPBX_LOG_FORMAT"):
        config.load()
    monkeypatch.setenv("CLOUDPBX_LOG_FORMAT", "json")
    monkeypatch.setenv("CLOUDPBX_METRICS_TOKEN", "short")
    with pytest.raises(config.ConfigError, match="CLOUDPBX_METRICS_TOKEN"):
        config.load()


def test_each_web_request_gets_its_own_id_in_its_answer(client):
    first = client.get("/healthz/live")
    second = client.get("/healthz/live")
    assert logs.well_formed(first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert logs.current_request_id() == "-"  # over once the answer is sent


@pytest.mark.django_db
def test_a_job_runs_under_the_request_id_it_was_queued_in(queued_jobs):
    seen.clear()
    with logs.request_id("feedfacecafebeef"):
        remember_request_id()
    remember_request_id()  # queued outside any request
    assert jobs.queued() == 2
    for _ in range(2):
        huey.execute(huey.dequeue())  # as the worker does, in another context
    assert seen == ["feedfacecafebeef", "-"]
    assert logs.current_request_id() == "-"


def test_a_job_counts_its_outcome():
    def finished(job: str, outcome: str) -> float:
        labels = {"job": job, "outcome": outcome}
        return REGISTRY.get_sample_value("cloudpbx_jobs_finished_total", labels) or 0.0

    ok, failed = finished("remember_request_id", "ok"), finished("always_fails", "failed")
    remember_request_id()
    with pytest.raises(RuntimeError):
        always_fails.call_local()
    assert finished("remember_request_id", "ok") == ok + 1
    assert finished("always_fails", "failed") == failed + 1

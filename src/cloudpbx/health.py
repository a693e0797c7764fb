"""Is this node well? The parts a PBX needs, asked cheaply: the database, the job worker (its
heartbeat), Kamailio (RPC) and rtpengine (ng ping). ``/healthz`` and ``cloudpbx check`` answer
from here; neither reveals more than each part's name and why it fails."""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connection
from django.utils import timezone

from cloudpbx.config import Config
from cloudpbx.core import jobs
from cloudpbx.sip import kamailio, rtpengine

logger = logging.getLogger(__name__)

TIMEOUT = 1.0  # seconds per process asked: a monitor's probe must not hang
CACHE_SECONDS = 2.0  # a flood of probes asks Kamailio and rtpengine at most this often
_cached: tuple[float, dict[str, Any]] = (-CACHE_SECONDS, {})


@dataclasses.dataclass(frozen=True)
class Part:
    name: str
    problem: str | None  # None: well

    @property
    def ok(self) -> bool:
        return self.problem is None


def check(config: Config) -> list[Part]:
    database = _database()
    return [
        Part("database", database),
        Part("jobs", "database unavailable" if database else _jobs()),
        Part("kamailio", kamailio.answers(config, timeout=TIMEOUT)),
        Part("rtpengine", rtpengine.answers(config, timeout=TIMEOUT)),
    ]


def report(config: Config) -> dict[str, Any]:
    """:func:`check` as ``/healthz`` answers it, kept :data:`CACHE_SECONDS` per process;
    a change of state is logged once, not once per probe."""
    global _cached
    checked_at, previous = _cached
    if time.monotonic() - checked_at < CACHE_SECONDS:
        return previous
    parts = check(config)
    failing = [part.name for part in parts if not part.ok]
    body: dict[str, Any] = {
        "status": "failing" if failing else "ok",
        "parts": {part.name: part.problem or "ok" for part in parts},
    }
    if failing:
        body["failing"] = failing
    if not previous or failing != previous.get("failing", []):
        log = logger.warning if failing else logger.info
        log("health: %s", ", ".join(f"{name} {state}" for name, state in body["parts"].items()))
    _cached = (time.monotonic(), body)
    return body


def _database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return f"unavailable: {type(error).__name__}"  # the message may name the server's user
    return None


def _jobs() -> str | None:
    beat = jobs.last_beat()
    if beat is None:
        return "not running"
    silent = timezone.now() - beat
    if silent > timedelta(seconds=3 * jobs.HEARTBEAT_SECONDS):
        return f"silent for {int(silent.total_seconds())} s"
    return None

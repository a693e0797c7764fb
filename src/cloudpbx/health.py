"""Is this node well? The parts a PBX needs, asked cheaply: the database, the job worker (its
heartbeat), Kamailio (RPC) and rtpengine (ng ping). ``/healthz`` and ``cloudpbx check`` answer
from here; neither reveals more than each part's name and why it fails."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from django.db import DatabaseError, connection
from django.utils import timezone

from cloudpbx.config import Config
from cloudpbx.core import jobs
from cloudpbx.sip import kamailio, rtpengine

TIMEOUT = 1.0  # seconds per process asked: a monitor's probe must not hang


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

"""Log lines: one per event, plain or JSON (``CLOUDPBX_LOG_FORMAT``), each with the request id
of the portal or API request it follows from.

The request id is set for each web request (:class:`cloudpbx.middleware.RequestIdMiddleware`),
travels with the change's events (they run in the same request, after its commit: the SIP
directory cache flush) and with the jobs it queues (:func:`cloudpbx.core.jobs.db_task`: the
phone's re-sync), so one id finds every line a change caused. Lines outside any request carry
``-``. Messages never hold secrets (the code logs ids, usernames and addresses only).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

NO_REQUEST = "-"
_request_id: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)
# An id handed to us (by a trusted proxy, or a job's queue entry) is kept only if it looks like
# one: it lands in every line, so it must not carry line breaks or quotes.
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def new_request_id() -> str:
    return secrets.token_hex(8)


def well_formed(request_id: str) -> bool:
    return bool(_WELL_FORMED.match(request_id))


def current_request_id() -> str:
    return _request_id.get()


def begin_request(value: str) -> None:
    """The web request this thread serves now, until :func:`end_request`: also for the lines
    Django writes once the middleware is done ("Not Found: …")."""
    _request_id.set(value)


def end_request() -> None:
    _request_id.set(NO_REQUEST)


@contextmanager
def request_id(value: str) -> Iterator[None]:
    """Log within ``value``'s request (a web request, or a job it queued)."""
    token = _request_id.set(value if well_formed(value) else NO_REQUEST)
    try:
        yield
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Gives every record the current request id (``%(request_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request id, and the
    traceback of an exception as one string field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NO_REQUEST),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configuration(log_format: str) -> dict[str, Any]:
    """Django's ``LOGGING`` for ``CLOUDPBX_LOG_FORMAT`` (``plain`` or ``json``)."""
    plain = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "plain": {"format": plain},
            "json": {"()": JsonFormatter},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": "INFO"},
        "loggers": {"django.db.backends": {"level": "INFO"}},
    }

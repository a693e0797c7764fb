"""Background jobs: one huey queue in the PBX's own database, worked by ``cloudpbx jobs``.

Why huey: it is small and well kept, has retries with exponential back-off and a retry limit
built in (``retries``, ``retry_delay``, ``retry_backoff``), and stores its queue in SQLite or
PostgreSQL without another server, so the embedded mode stays one machine and the scaled-out
mode shares one queue between every web node. See docs/architecture.md ("Background jobs").

- PostgreSQL: the queue tables (``huey_*``) live in the PBX database; workers wake up through
  LISTEN/NOTIFY.
- SQLite: the queue is a file next to the database (``<name>-jobs.sqlite3``), so polling
  workers never contend with the portal's and Kamailio's use of the main file.

The storage is opened on first use, from Django's connection settings at that moment, so
tests (whose database names change after start-up) and forked workers get the right one.
Tests run jobs inline (``huey.immediate = True``, see the root conftest).

Contract for job functions (:func:`db_task`): arguments are plain values (ids, MACs), never
model instances or secrets, because they are serialised into the queue; a job re-reads the
database and must be idempotent, since a retry or a duplicate may run it again. Each job runs
under the request id of the request that queued it (:mod:`cloudpbx.logs`), and counts its
outcome in ``/metrics``.

A job survives the death of its worker: huey takes a job off the queue before running it, so
the worker first records it as running (in the queue's key-value table, under its own name) and
removes the record when the job has finished, failed or been scheduled for a retry; a worker
that starts puts back on the queue what its predecessor of the same name left running
(:func:`requeue_interrupted`). Jobs are idempotent, so one run twice is safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone
from huey import Huey
from huey.api import Task
from huey.storage import BaseStorage, PostgresStorage, SqliteStorage

from cloudpbx import logs
from cloudpbx.core import metrics

logger = logging.getLogger(__name__)

QUEUE_NAME = "cloudpbx"
HEARTBEAT_SECONDS = 10.0  # how often a worker says it is alive; health allows three misses


def _storage_for_database(name: str) -> BaseStorage:
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        params = connection.get_connection_params()

        def connect() -> Any:
            import psycopg

            return psycopg.connect(**params)

        return PostgresStorage(name, connection=connect)
    return SqliteStorage(name, filename=str(queue_file(Path(str(database["NAME"])))))


def queue_file(database: Path) -> Path:
    """The SQLite queue beside the SQLite database ``database``."""
    return database.with_name(f"{database.stem}-jobs.sqlite3")


class _LazyStorage:
    """Builds the real storage on first use (not at import, when no database is chosen yet)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._storage: BaseStorage | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._storage is None:
            self._storage = _storage_for_database(self._name)
        return getattr(self._storage, attribute)


# The keyword under which a queued job carries the request id it was queued in.
REQUEST_ID = "_request_id"


class _Queue(Huey):
    def get_storage(self, **kwargs: Any) -> Any:
        return _LazyStorage(self.name)

    def enqueue(self, task: Task) -> Any:
        task.kwargs.setdefault(REQUEST_ID, logs.current_request_id())  # a retry keeps its own
        return super().enqueue(task)

    def execute(self, task: Task, timestamp: Any = None) -> Any:
        # huey's own lines about the job ("Executing …", a retry) carry the id too.
        with logs.request_id(str(task.kwargs.get(REQUEST_ID, logs.NO_REQUEST))):
            if self.immediate:
                return super().execute(task, timestamp)
            running = _running_key(task.id)
            self.storage.put_data(running, self.serialize_task(task))
            try:
                return super().execute(task, timestamp)
            finally:
                self.storage.delete_data(running)


huey = _Queue(QUEUE_NAME, utc=True, results=False)


def _running_key(task_id: str) -> str:
    return f"running:{worker_name()}:{task_id}"


def requeue_interrupted() -> int:
    """Put back on the queue the jobs this node's worker was running when it died; returns
    how many. Each is queued before its record goes, so a crash in between runs it twice
    rather than never."""
    prefix = _running_key("")
    found = 0
    for key, data in huey.storage.result_items().items():
        key = key.decode() if isinstance(key, bytes) else str(key)
        if key.startswith(prefix):
            task = huey.deserialize_task(data)
            huey.storage.enqueue(data, task.priority)
            huey.storage.delete_data(key)
            logger.warning("job %s was running when the worker stopped: queued again", task)
            found += 1
    return found


def db_task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``huey.task`` for jobs that use the ORM: stale connections are closed around each run
    (a worker thread lives for days), as in huey's own Django integration."""

    def decorate(function: Callable[..., Any]) -> Any:
        @wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop(REQUEST_ID, None)  # already the logs' (_Queue.execute)
            if not huey.immediate:
                close_old_connections()
            try:
                result = function(*args, **kwargs)
            except Exception:
                metrics.JOBS_FINISHED.labels(function.__name__, "failed").inc()
                raise
            finally:
                if not huey.immediate:
                    close_old_connections()
            metrics.JOBS_FINISHED.labels(function.__name__, "ok").inc()
            return result

        return huey.task(**options)(run)

    return decorate


def run_worker(workers: int = 2) -> None:
    """Work the queue until SIGTERM/SIGINT (``cloudpbx jobs``, a child of ``cloudpbx run``)."""
    from django.apps import apps
    from django.utils.module_loading import autodiscover_modules

    assert apps.ready
    autodiscover_modules("jobs")  # every app's jobs.py registers its tasks
    # SIGTERM (the supervisor's stop) lets running jobs finish, within its 10 s grace period.
    consumer = huey.create_consumer(
        workers=workers,
        worker_type="thread",
        periodic=False,
        max_delay=2.0,  # an idle SQLite queue is polled at most every 2 s
        graceful_signal="TERM",
        shutdown_timeout=8,
    )
    requeue_interrupted()
    logger.info("job worker started (%s threads)", workers)
    threading.Thread(target=_beat, name="heartbeat", daemon=True).start()
    consumer.run()


def worker_name() -> str:
    """This node's job worker, as its heartbeat and its running jobs name it."""
    return f"jobs@{settings.CONFIG.node_name}"


def _beat() -> None:
    from cloudpbx.core.models import Heartbeat

    while True:
        try:
            Heartbeat.objects.update_or_create(
                name=worker_name(), defaults={"beat_at": timezone.now()}
            )
        except DatabaseError as error:  # health reports the missing beat
            logger.warning("job worker heartbeat not written: %s", error)
        finally:
            close_old_connections()
        time.sleep(HEARTBEAT_SECONDS)


def queued() -> int:
    """Jobs waiting in the queue (not those running or scheduled for a retry)."""
    return int(huey.pending_count())


def retrying() -> int:
    """Failed jobs waiting for their next attempt."""
    return int(huey.scheduled_count())


def last_beat() -> datetime | None:
    """When this node's job worker last said it was alive."""
    from cloudpbx.core.models import Heartbeat

    return Heartbeat.objects.filter(name=worker_name()).values_list("beat_at", flat=True).first()

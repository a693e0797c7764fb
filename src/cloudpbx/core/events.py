"""The one seam from the service layer to the outside world.

Services call :func:`publish` after a change; subscribers (the Kamailio cache flush, phone
re-sync, redirect-service jobs, …) run only once the transaction has committed, so nothing
outside learns of a change that was rolled back. Payloads carry ids, never secrets.

A subscriber registered with ``once_per_commit=True`` runs once per committed transaction,
however many events it published (a cache flush after creating a whole demo customer).
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

Subscriber = Callable[..., None]
_subscribers: dict[str, list[Subscriber]] = defaultdict(list)
_once_per_commit: set[Subscriber] = set()


def subscribe(event: str, subscriber: Subscriber, *, once_per_commit: bool = False) -> None:
    if subscriber not in _subscribers[event]:
        _subscribers[event].append(subscriber)
    if once_per_commit:
        _once_per_commit.add(subscriber)


def unsubscribe(event: str, subscriber: Subscriber) -> None:
    if subscriber in _subscribers[event]:
        _subscribers[event].remove(subscriber)


def publish(event: str, **payload: Any) -> None:
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        # Join the batch of this transaction (same savepoint, so a rolled-back savepoint
        # takes its events with it).
        savepoints = set(connection.savepoint_ids)
        for registered_in, callback, _robust in connection.run_on_commit:
            batch = getattr(callback, "events_batch", None)
            if batch is not None and set(registered_in) == savepoints:
                batch.append((event, payload))
                return
    batch: list[tuple[str, dict[str, Any]]] = [(event, payload)]
    deliver = functools.partial(_deliver, batch)
    deliver.events_batch = batch  # type: ignore[attr-defined]
    transaction.on_commit(deliver)


def _deliver(batch: list[tuple[str, dict[str, Any]]]) -> None:
    called_once: set[Subscriber] = set()
    for event, payload in batch:
        logger.info("event %s %s", event, payload)
        for subscriber in list(_subscribers[event]):
            if subscriber in _once_per_commit:
                if subscriber in called_once:
                    continue
                called_once.add(subscriber)
            try:
                subscriber(**payload)
            except Exception:
                # One failing subscriber must not hide the change from the others.
                logger.exception("subscriber %r failed on %s", subscriber, event)

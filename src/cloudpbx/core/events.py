"""The one seam from the service layer to the outside world.

Services call :func:`publish` after a change; subscribers (the Kamailio cache flush, phone
re-sync, redirect-service jobs, …) run only once the transaction has committed, so nothing
outside learns of a change that was rolled back. Payloads carry ids, never secrets.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

Subscriber = Callable[..., None]
_subscribers: dict[str, list[Subscriber]] = defaultdict(list)


def subscribe(event: str, subscriber: Subscriber) -> None:
    if subscriber not in _subscribers[event]:
        _subscribers[event].append(subscriber)


def unsubscribe(event: str, subscriber: Subscriber) -> None:
    if subscriber in _subscribers[event]:
        _subscribers[event].remove(subscriber)


def publish(event: str, **payload: Any) -> None:
    def deliver() -> None:
        logger.info("event %s %s", event, payload)
        for subscriber in list(_subscribers[event]):
            try:
                subscriber(**payload)
            except Exception:
                # One failing subscriber must not hide the change from the others.
                logger.exception("subscriber %r failed on %s", subscriber, event)

    transaction.on_commit(deliver)

"""Portal and API changes reach Kamailio at once: every worker drops its directory cache.

Subscribed to the service layer's events (:mod:`cloudpbx.core.events`), so it runs after the
change is committed. The generation number lives in Kamailio's shared memory (htable ``cache``);
each worker compares it with its own on the next request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

from cloudpbx.core import events
from cloudpbx.sip import rpc

logger = logging.getLogger(__name__)

EVENTS = (
    "terminal.created",
    "terminal.changed",
    "terminal.deleted",
    "extension.created",
    "extension.changed",
    "extension.deleted",
    "number.created",
    "number.changed",
    "number.deleted",
    "trunk.changed",
    "tenant.changed",
    "tenant.deleted",
)


def flush_directory_caches(**payload: Any) -> None:
    generation = time.time_ns() // 1_000_000 % 2_000_000_000
    for url in settings.CLOUDPBX_KAMAILIO_RPC_URLS:
        try:
            rpc.call(
                url, "htable.seti", "cache", "gen", generation,
                token=settings.CLOUDPBX_KAMAILIO_RPC_TOKEN, timeout=1.0,
            )  # fmt: skip
            logger.info("SIP directory cache flushed at %s (generation %s)", url, generation)
        except rpc.NotRunning:
            # No Kamailio there (e.g. the demo data `cloudpbx run` writes before starting it):
            # no cache to flush, one starts empty.
            logger.debug("no Kamailio at %s: nothing to flush", url)
        except rpc.RpcError as error:
            # Kamailio restarting or overloaded: its caches expire in 30 s anyway.
            logger.warning("could not flush the SIP directory cache: %s", error)


def connect() -> None:
    for event in EVENTS:
        events.subscribe(event, flush_directory_caches, once_per_commit=True)

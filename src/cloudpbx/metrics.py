"""``/metrics``: this node in Prometheus' text format, for a Prometheus on this machine or one
holding ``CLOUDPBX_METRICS_TOKEN`` (over HTTPS).

Two kinds of values: what the web workers and the job worker counted (:mod:`cloudpbx.core.metrics`,
summed over the processes), and what is asked at each scrape: Kamailio's and the router's
statistics (one RPC), rtpengine's (one ng ``statistics``), the job queue, the health of each part
(:mod:`cloudpbx.health`, cached). A part that does not answer is left out, and its
``cloudpbx_part_up`` is 0. See docs/operator-guide.md ("Metrics").
"""

from __future__ import annotations

import hmac
import logging
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from django.db import DatabaseError, connection
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cloudpbx import health
from cloudpbx.config import Config
from cloudpbx.core import jobs
from cloudpbx.provisioning.clients import Client
from cloudpbx.sip import kamailio, rpc, rtpengine, status
from cloudpbx.sip import metrics as sip_metrics

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Set by ``cloudpbx run`` for its web and job workers (prometheus_client's multiprocess mode).
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def count_across_processes(data_dir: Path) -> None:
    """For ``cloudpbx run``, before it starts its workers: they count into files in a fresh
    directory (a previous run's counts would otherwise be added to this one's)."""
    directory = data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700)
    os.environ[MULTIPROCESS_DIR] = str(directory)


def allowed(client: Client, authorization: str, config: Config) -> bool:
    """From this machine (not through a proxy here), or with the token over HTTPS."""
    if client.on_this_host:
        return True
    scheme, _, token = authorization.partition(" ")
    return bool(
        config.metrics_token
        and client.secure
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), config.metrics_token.encode())
    )


def exposition(config: Config) -> bytes:
    if os.environ.get(MULTIPROCESS_DIR):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    asked = CollectorRegistry()
    asked.register(NodeCollector(config))
    return generate_latest(counted) + generate_latest(asked)


class NodeCollector(Collector):
    """What is asked at each scrape."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def collect(self) -> Iterator[Metric]:
        parts = GaugeMetricFamily(
            "cloudpbx_part_up",
            "1 when this part of the node is well (as /healthz).",
            labels=["part"],
        )
        for part, state in health.report(self.config)["parts"].items():
            parts.add_metric([part], 1.0 if state == "ok" else 0.0)
        yield parts
        yield from self.jobs()
        yield from families(self.kamailio() + self.rtpengine())

    def kamailio(self) -> list[sip_metrics.Sample]:
        try:
            statistics = rpc.call(
                kamailio.rpc_url(self.config), "stats.get_statistics", "all",
                token=rpc.token(self.config.secret_key), timeout=health.TIMEOUT,
            )  # fmt: skip
        except rpc.RpcError as error:
            logger.debug("metrics: Kamailio not asked: %s", error)
            return []
        samples = sip_metrics.kamailio_samples(statistics or [])
        if connection.vendor != "postgresql":
            return samples
        # DB-only usrloc keeps no count in memory: the shared table's (every node's phones).
        samples = [s for s in samples if not s.metric.startswith("sip_registered_")]
        try:
            counted = status.registered_in_database()
        except DatabaseError:
            counted = None
        if counted is not None:
            samples.append(sip_metrics.Sample("sip_registered_accounts", (), counted[0]))
            samples.append(sip_metrics.Sample("sip_registered_contacts", (), counted[1]))
        return samples

    def rtpengine(self) -> list[sip_metrics.Sample]:
        try:
            answer = rtpengine.ng(self.config, {"command": "statistics"}, timeout=health.TIMEOUT)
        except rtpengine.NgError as error:
            logger.debug("metrics: rtpengine not asked: %s", error)
            return []
        return sip_metrics.rtpengine_samples(answer)

    def jobs(self) -> Iterator[Metric]:
        try:
            queued, retrying = jobs.queued(), jobs.retrying()
        except DatabaseError as error:
            logger.debug("metrics: job queue not read: %s", error)
            return
        yield GaugeMetricFamily("cloudpbx_jobs_queued", "Jobs waiting to run.", value=queued)
        yield GaugeMetricFamily(
            "cloudpbx_jobs_retrying", "Failed jobs waiting for another attempt.", value=retrying
        )


def families(samples: list[sip_metrics.Sample]) -> Iterator[Metric]:
    """The samples grouped into their :data:`cloudpbx.sip.metrics.FAMILIES`."""
    by_metric: dict[str, list[sip_metrics.Sample]] = defaultdict(list)
    for sample in samples:
        by_metric[sample.metric].append(sample)
    for family in sip_metrics.FAMILIES:
        found = by_metric.get(family.metric)
        if not found:
            continue
        kind = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
        labels = [name for name, _ in found[0].labels]
        metric = kind(f"cloudpbx_{family.metric}", family.help, labels=labels)
        for sample in found:
            metric.add_metric([value for _, value in sample.labels], sample.value)
        yield metric

"""``/metrics`` in the process (``cloudpbx.metrics``): who may read it, what each web request
counts; a running PBX scraped by Prometheus is in test_observability.py."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client import REGISTRY

from cloudpbx import metrics
from cloudpbx.provisioning.clients import Client, client_of

TOKEN = "t" * 40


@pytest.fixture
def with_token(settings):
    settings.CONFIG = dataclasses.replace(settings.CONFIG, metrics_token=TOKEN)
    return settings.CONFIG


@pytest.mark.parametrize(
    ("client", "authorization", "allowed"),
    [
        (Client("127.0.0.1", secure=False), "", True),
        (Client("::1", secure=False), "", True),
        (Client("127.0.0.2", secure=True), "", True),
        (Client("192.0.2.7", secure=True), "", False),
        (Client("192.0.2.7", secure=True), f"Bearer {TOKEN}", True),
        (Client("192.0.2.7", secure=True), f"bearer {TOKEN} ", True),
        (Client("192.0.2.7", secure=True), f"Basic {TOKEN}", False),
        (Client("192.0.2.7", secure=True), f"Bearer {TOKEN}x", False),
        (Client("192.0.2.7", secure=False), f"Bearer {TOKEN}", False),  # never in clear
        # Through a proxy on this machine: loopback says nothing about who asks.
        (Client("127.0.0.1", secure=True, proxied=True), "", False),
        (Client("127.0.0.1", secure=True, proxied=True), f"Bearer {TOKEN}", True),
        (Client(None, secure=True), "", False),
    ],
)
def test_who_may_read_metrics(with_token, client, authorization, allowed):
    assert metrics.allowed(client, authorization, with_token) is allowed


def test_without_a_token_configured_no_token_opens_it(settings):
    config = dataclasses.replace(settings.CONFIG, metrics_token="")
    assert not metrics.allowed(Client("192.0.2.7", secure=True), "Bearer ", config)


def test_a_client_forwarded_by_a_trusted_proxy_is_never_this_machine():
    forwarded = client_of("127.0.0.2", "127.0.0.1", "https", False, ("127.0.0.2",))
    assert forwarded.address == "127.0.0.1" and forwarded.proxied
    assert not forwarded.on_this_host
    direct = client_of("127.0.0.1", "203.0.113.9", "https", False, ("127.0.0.2",))
    assert direct.address == "127.0.0.1" and not direct.proxied  # XFF of a stranger: ignored
    assert direct.on_this_host


@pytest.mark.django_db
def test_metrics_answer_this_machine_and_hide_from_others(client):
    shown = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert shown.status_code == 200
    assert shown["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"cloudpbx_part_up" in shown.content
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 404
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405


@pytest.mark.django_db
def test_each_answer_is_counted_by_view_method_and_status(client):
    def count(view: str, method: str, status: str) -> float:
        labels = {"view": view, "method": method, "status": status}
        return REGISTRY.get_sample_value("cloudpbx_http_requests_total", labels) or 0.0

    live, unmatched, odd = (
        count("web:live", "GET", "200"),
        count("unmatched", "GET", "404"),
        count("web:live", "other", "200"),
    )
    timed = (
        REGISTRY.get_sample_value(
            "cloudpbx_http_request_duration_seconds_count", {"view": "web:live"}
        )
        or 0.0
    )
    client.get("/healthz/live")
    client.get("/no/such/page/" + "x" * 40)  # a random path is no label of its own
    client.generic("BREW", "/healthz/live")
    assert count("web:live", "GET", "200") == live + 1
    assert count("unmatched", "GET", "404") == unmatched + 1
    assert count("web:live", "other", "200") == odd + 1
    assert (
        REGISTRY.get_sample_value(
            "cloudpbx_http_request_duration_seconds_count", {"view": "web:live"}
        )
        == timed + 2
    )

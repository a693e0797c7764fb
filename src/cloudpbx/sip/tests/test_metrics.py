"""Kamailio's and rtpengine's statistics as ``/metrics`` samples (``cloudpbx.sip.metrics``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudpbx.sip import metrics
from cloudpbx.sip.kamailio_config import render


def by_name(samples: list[metrics.Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.metric, s.labels): s.value for s in samples}


def test_router_counters_and_kamailios_statistics_become_labelled_samples() -> None:
    found = by_name(
        metrics.kamailio_samples(
            [
                "script:call_trunk = 3",
                "script:register_challenged = 10",
                "script:auth_failures = 2",
                "script:ban_ip_flood = 1",
                "core:rcv_requests_invite = 7",
                "sl:200_replies = 4",
                "sl:202_replies = 1",
                "sl:2xx_replies = 2",
                "sl:401_replies = 9",
                "sl:4xx_replies = 1",
                "dialog:active_dialogs = 2",
                "usrloc:location_users = 5",
                "shmem:free_size = 1024",
                "core:bad_URIs_rcvd = 0",  # not exported
                "script:not_ours = 1",  # not one of the router's counters
                "tmx:active_transactions = not-a-number",
            ]
        )
    )
    assert found == {
        ("sip_calls", (("decision", "trunk"),)): 3.0,
        ("sip_registers", (("result", "challenged"),)): 10.0,
        ("sip_auth_failures", ()): 2.0,
        ("sip_bans", (("reason", "ip_flood"),)): 1.0,
        ("sip_requests", (("method", "INVITE"),)): 7.0,
        # sl counts some codes apart from their class: summed per class.
        ("sip_replies_sent", (("class", "2xx"),)): 7.0,
        ("sip_replies_sent", (("class", "4xx"),)): 10.0,
        ("sip_dialogs_active", ()): 2.0,
        ("sip_registered_accounts", ()): 5.0,
        ("sip_memory_free_bytes", ()): 1024.0,
    }


def test_rtpengine_statistics_become_samples() -> None:
    answer = {
        "result": "ok",
        "statistics": {
            "currentstatistics": {"sessionsown": 2, "sessionsforeign": 0},
            "totalstatistics": {
                "uptime": b"19",
                "managedsessions": 12,
                "timeoutsessions": 1,
                "relayedbytes": 4096,
                "avgcallduration": b"1.5",
            },
        },
    }
    assert by_name(metrics.rtpengine_samples(answer)) == {
        ("media_sessions_active", ()): 2.0,
        ("media_sessions", ()): 12.0,
        ("media_sessions_ended", (("end", "timeout"),)): 1.0,
        ("media_bytes_relayed", ()): 4096.0,
    }


def test_every_sample_belongs_to_a_declared_family() -> None:
    declared = {family.metric for family in metrics.FAMILIES}
    lines = [f"script:{name} = 1" for name in metrics.ROUTER_COUNTERS]
    exported = {s.metric for s in metrics.kamailio_samples(lines)}
    assert exported <= declared
    assert len(exported) == 4  # registers, calls, bans, auth failures


def test_kamailio_declares_every_router_counter(tmp_path: Path, settings: Any) -> None:
    cfg = render(settings.CONFIG, tmp_path)
    for name in metrics.ROUTER_COUNTERS:
        assert f'modparam("statistics", "variable", "{name}")' in cfg
    assert 'loadmodule "statistics.so"' in cfg
    assert 'modparam("dialog", "enable_stats", 1)' in cfg

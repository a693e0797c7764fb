"""The router's counters in Kamailio's shared memory (``cloudpbx_sip_*`` in /metrics): every
outcome counted once, whichever worker process handled the request."""

from .conftest import free_port, register
from .test_abuse import failing_registrations, phones
from .test_calls import answering_phone, dial, phone


def grown(before: dict, after: dict) -> dict[tuple, float]:
    return {
        key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key)
    }


def calls(decision: str) -> tuple:
    return ("sip_calls", (("decision", decision),))


def registers(result: str) -> tuple:
    return ("sip_registers", (("result", result),))


def test_each_call_is_counted_by_the_routers_decision(sip, tenant, carrier):
    callee = phone(tenant, "Office", rings=["11"])
    caller = phone(tenant, "Reception", kind="app")
    barred = phone(tenant, "Internal only", external_calls_enabled=False)
    phone(tenant, "Unregistered", rings=["20"])
    uas = answering_phone(sip, callee)
    before = sip.counts()
    dial(sip, caller, "11", 200)
    assert uas.wait()[0] == 0
    dial(sip, caller, "20", 480)
    dial(sip, barred, "0301234567", 403)
    changed = grown(before, sip.counts())
    # Each call: challenged first (as every phone is), then decided.
    assert changed[calls("challenged")] == 3
    assert changed[calls("internal")] == 1
    assert changed[calls("unavailable")] == 1
    assert changed[calls("rejected")] == 1
    assert calls("trunk") not in changed
    assert changed[("sip_requests", (("method", "INVITE"),))] >= 6


def test_registrations_failures_and_bans_are_counted(sip, tenant):
    victim = phones(tenant, 1)[0]
    attacker = "127.0.0.68"
    limit = sip.config.sip_auth_failures_per_ip
    before = sip.counts()
    assert register(sip, victim, free_port())[0] == 0
    failing_registrations(sip, [f"guess{i}" for i in range(limit + 1)], attacker)
    changed = grown(before, sip.counts())
    assert changed[registers("accepted")] == 1
    assert changed[registers("challenged")] == 1 + 2 * (limit + 1)
    assert changed[("sip_auth_failures", ())] == limit + 1
    assert changed[("sip_bans", (("reason", "ip_auth_failures"),))] == 1
    assert ("sip_bans", (("reason", "user_auth_failures"),)) not in changed

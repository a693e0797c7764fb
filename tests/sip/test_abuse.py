"""Brute force and floods: bans per address and per user; an office behind NAT is not banned.

The ``sip`` fixture empties the ban tables before each test."""

from cloudpbx.terminals.services import create_terminal

from .conftest import free_port, register
from .sipp import Sipp, register_scenario


def phones(tenant, count):
    return [
        create_terminal(tenant, name=f"Phone {i}", type="ip_phone", generate_credentials=True)
        for i in range(count)
    ]


def failing_registrations(sip, usernames, local_ip):
    """One REGISTER with a wrong password per username (each answered 401, 401)."""
    return Sipp(
        register_scenario(expect=401),
        sip.address,
        local_ip=local_ip,
        users=[(name, sip.domain, "Wrong-Password-1") for name in usernames],
        calls=len(usernames),
        extra=["-r", "50"],
    ).run(timeout=60)


def test_an_address_guessing_passwords_is_banned(sip, tenant):
    attacker = "127.0.0.66"
    victim = phones(tenant, 1)[0]
    limit = sip.config.sip_auth_failures_per_ip
    # An enumeration attempt: many usernames, one guess each (no per-user lock).
    code, trace = failing_registrations(sip, [f"guess{i}" for i in range(limit)], attacker)
    assert code == 0 and trace.responses() == [401] * (2 * limit)
    failing_registrations(sip, ["guess-last"], attacker)
    # Banned: the attacker's later requests are dropped without an answer …
    code, trace = register(sip, victim, free_port(), local_ip=attacker)
    assert code != 0 and trace.responses() == []
    # … while the phone itself, from its own address, still registers.
    assert register(sip, victim, free_port())[0] == 0


def test_a_username_under_attack_is_locked_from_that_address_without_telling(sip, tenant):
    victim = phones(tenant, 1)[0]
    attacker = "127.0.0.67"
    limit = sip.config.sip_auth_failures_per_user
    failing_registrations(sip, [victim.sip_username] * (limit + 1), attacker)
    # From that address even the right password gets the same 401 as a wrong one …
    code, trace = register(sip, victim, free_port(), expect=401, local_ip=attacker)
    assert code == 0 and trace.responses() == [401, 401]
    # … while the phone registers from its own address; an operator lifts the lock.
    assert register(sip, victim, free_port())[0] == 0
    sip.rpc("htable.delete", "userban", f"user:{victim.sip_username}@{attacker}")
    assert register(sip, victim, free_port(), local_ip=attacker)[0] == 0


def test_fifty_phones_behind_one_nat_address_reboot_together(sip, tenant):
    office = "127.0.0.70"
    terminals = phones(tenant, 50)
    code, trace = Sipp(
        register_scenario(),
        sip.address,
        local_ip=office,
        users=[(t.sip_username, sip.domain, t.sip_password) for t in terminals],
        calls=50,
        extra=["-r", "100"],
    ).run(timeout=60)
    assert code == 0
    assert trace.responses().count(200) == 50


def test_a_flood_from_one_address_is_banned(sip):
    flooder = "127.0.0.71"
    options = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send><![CDATA[
OPTIONS sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:flood@[local_ip]>;tag=[call_number]
To: <sip:127.0.0.1>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv response="200" timeout="1000"/>
</scenario>
"""
    requests = sip.config.sip_flood_requests_per_2s * 3
    Sipp(options, sip.address, local_ip=flooder, calls=requests,
         extra=["-r", "1500", "-l", "200"]).run(timeout=60)  # fmt: skip
    assert sip.rpc("htable.get", "ipban", flooder)

"""Call-setup benchmark: internal calls per second through the proxy, on loopback.

    .venv/bin/python bench/sip_calls/run.py [--max-rate 4800] [--step 400] [--seconds 10]

Seeds a throw-away cloudpbx data dir (SQLite) through the service layer: ``--pairs`` desk phones,
each the only terminal ringing for its own extension (200, 201, …), and ``--callers`` phones per
pair that dial that extension. Starts cloudpbx's Kamailio (Python routing, ``-m --shm-mb``) and,
in the same run, the native Kamailio config with the same directory in an htable (the ceiling),
each with its own rtpengine (offer per branch, answer, delete: every call's media is anchored);
and the native config without the relay, to show what the relay costs per call.
For each server the desk phones register (sipp, digest) from the port where a sipp UAS then
answers. A call is INVITE → 407 → ACK → INVITE with the proxy-authorization answer → 100 →
180 → 200 → ACK → ``--hold-ms`` → BYE → 200, record-routed through the proxy (dialog tracking,
From rewritten to the caller's internal identity, as cloudpbx does). One UAC/UAS pair carries
``rate / pairs`` calls/s: a single sipp UAC saturates near 1,000-1,250 calls/s on this machine.

A step is clean when every UAC and UAS reports 0 failed calls and 0 retransmissions, every call
completed and the rate was held. Prints a table, the highest clean rate of each server and their
ratio. Bounded, 127.0.0.1 only, stops everything it started.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sip_common as common

TARGET_RATE = 1000

REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500"><![CDATA[
REGISTER sip:[field1] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field0]@[field1]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Expires: 3600
Content-Length: 0

  ]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
REGISTER sip:[field1] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field0]@[field1]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port]>
[authentication]
Max-Forwards: 70
Expires: 3600
Content-Length: 0

  ]]></send>
  <recv response="200"/>
</scenario>
"""

# The 180 is relayed by one Kamailio worker and the 200 by another: the 180 may arrive after the
# 200 (as real phones see it too). With sipp transactions (start_txn/response_txn) a late
# provisional reply of the INVITE transaction is ignored; optional="global" would accept it but
# rewind the call to wait for the 200 again.
CALL = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call">
  <send retrans="500" start_rtd="1"><![CDATA[
INVITE sip:[field3]@[field1] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Caller" <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field3]@[field1]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="407" auth="true"/>
  <send><![CDATA[
ACK sip:[field3]@[field1] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <send retrans="500" start_txn="invite"><![CDATA[
INVITE sip:[field3]@[field1] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Caller" <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field3]@[field1]>
Call-ID: [call_id]
CSeq: 2 INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
[authentication]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

  ]]></send>
  <recv response="100" optional="true" response_txn="invite"/>
  <recv response="180" optional="true" response_txn="invite"/>
  <recv response="200" rrs="true" rtd="1" response_txn="invite"/>
  <send ack_txn="invite"><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
[last_Call-ID:]
[routes]
CSeq: 2 ACK
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <pause milliseconds="{hold_ms}"/>
  <send retrans="500" start_txn="bye"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
[last_Call-ID:]
[routes]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv response="200" response_txn="bye"/>
</scenario>
"""

ANSWER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer">
  <recv request="INVITE" rrs="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

  ]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

  ]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

  ]]></send>
</scenario>
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rate", type=int, default=4800, help="calls/s")
    parser.add_argument("--step", type=int, default=400, help="rate increment")
    parser.add_argument("--start", type=int, default=0, help="first rate (default: --step)")
    parser.add_argument("--seconds", type=float, default=10, help="length of each step")
    parser.add_argument("--pairs", type=int, default=4, help="UAC/UAS sipp pairs")
    parser.add_argument("--callers", type=int, default=100, help="calling phones per pair")
    parser.add_argument("--hold-ms", type=int, default=500, help="call length after the ACK")
    parser.add_argument("--children", type=int, default=0, help="Kamailio UDP workers")
    parser.add_argument("--shm-mb", type=int, default=1024, help="Kamailio shared memory")
    parser.add_argument(
        "--give-up", type=int, default=2, help="stop a server after N unclean steps in a row"
    )
    parser.add_argument("--servers", default="cloudpbx,native,native-norelay")
    parser.add_argument(
        "--kamailio-args",
        default="",
        help="extra Kamailio options for both servers, for experiments (e.g. '-x tlsf')",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, stats)")
    parser.add_argument(
        "--trace-warmup", action="store_true", help="sipp -trace_msg in the warm-up (with --keep)"
    )
    args = parser.parse_args()

    print(common.machine(), flush=True)
    common.terminate_on_signals()
    processes = common.Processes()
    work = common.work_dir(args.keep)
    try:
        common.setup_django(work / "data")
        args.children = args.children or common.default_children()
        print(
            f"Kamailio children: {args.children}, shm {args.shm_mb} MB {args.kamailio_args}, "
            f"{args.pairs} UAC/UAS pairs, hold {args.hold_ms} ms",
            flush=True,
        )
        phones = common.seed(args.pairs * (1 + args.callers), ringing=args.pairs)
        desks = phones[: args.pairs]
        callers = [
            phones[args.pairs + i * args.callers : args.pairs + (i + 1) * args.callers]
            for i in range(args.pairs)
        ]
        servers = common.servers(processes, work, args, phones)
        users = [
            common.write_users(work / f"callers-{i}.csv", callers[i], desks[i].extension or "")
            for i in range(args.pairs)
        ]
        desk_ports: dict[str, list[int]] = {}
        print(common.describe(servers), flush=True)
        for server in servers:
            server.start()
            desk_ports[server.short] = [common.free_port() for _ in desks]
            for i, desk in enumerate(desks):
                sipp = common.Sipp(
                    processes,
                    work / "register" / server.short,
                    f"desk-{i}",
                    REGISTER,
                    server.port,
                    local_port=desk_ports[server.short][i],
                    calls=1,
                    users=common.write_users(work / f"desk-{i}.csv", [desk]),
                    timeout=10,
                )
                stats = sipp.start().wait()
                if stats.successful != 1:
                    raise SystemExit(f"desk phone {i} could not register with {server.name}")
        scenario = CALL.replace("{hold_ms}", str(args.hold_ms))

        def step(
            server: common.Server, rate: float, seconds: float, trace: bool = False
        ) -> common.Step:
            extra = ["-trace_msg"] if trace else []
            per_pair = rate / args.pairs
            calls = int(per_pair * seconds)
            name = f"{server.short}-{rate:g}"
            timeout = seconds * 2 + args.hold_ms / 1000 + 20
            answering = [
                common.Sipp(
                    processes,
                    work / "steps" / name,
                    f"uas-{i}",
                    ANSWER,
                    server.port,
                    local_port=desk_ports[server.short][i],
                    calls=calls,
                    timeout=timeout,
                    extra=extra,
                ).start()
                for i in range(args.pairs)
            ]
            time.sleep(0.3)  # the UAS listen before the first INVITE
            calling = [
                common.Sipp(
                    processes,
                    work / "steps" / name,
                    f"uac-{i}",
                    scenario,
                    server.port,
                    rate=per_pair,
                    calls=calls,
                    users=users[i],
                    timeout=timeout,
                    extra=extra,
                )
                for i in range(args.pairs)
            ]
            return common.measure(server, rate, seconds, calling, calls * args.pairs, uas=answering)

        for server in servers:
            warm = step(server, 200, 3, trace=args.trace_warmup)
            print(f"warm-up {server.short}: {'clean' if warm.clean else warm.problems}")

        steps: list[common.Step] = []
        unclean = {server.short: 0 for server in servers}
        for index, rate in enumerate(common.rates(args.start, args.step, args.max_rate)):
            order = servers if index % 2 == 0 else list(reversed(servers))
            for server in order:
                if unclean[server.short] >= args.give_up:
                    continue
                result = step(server, rate, args.seconds)
                steps.append(result)
                unclean[server.short] = 0 if result.clean else unclean[server.short] + 1
                print(common.table([result], "call").splitlines()[-1], flush=True)
                # Finished transactions and dialogs stay in shared memory for a few seconds:
                # let them go before the next step.
                time.sleep(3)
            if all(count >= args.give_up for count in unclean.values()):
                break

        print()
        print(common.table(steps, "call"))
        print()
        print(common.summary(steps, servers, "call"))
        best = max((x.rate for x in steps if x.server == "cloudpbx" and x.clean), default=0)
        if "cloudpbx" in args.servers:
            met = best >= TARGET_RATE
            print(f"target ≥ {TARGET_RATE:,} calls/s: {'met' if met else 'NOT met'}")
        return 0
    finally:
        processes.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    common.run(main)

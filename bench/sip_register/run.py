"""REGISTER benchmark: digest-authenticated registrations per second on loopback.

    .venv/bin/python bench/sip_register/run.py [--max-rate 30000] [--step 2000] [--seconds 10]
    .venv/bin/python -m cloudpbx.core.pgserver .venv/bin/python bench/sip_register/run.py …
        (the same on a throw-away PostgreSQL server: registrations in the database only)

Seeds a throw-away cloudpbx data dir (SQLite, or the PostgreSQL server it is given) with
``--phones`` IP phones through the service layer, starts cloudpbx's Kamailio (Python routing)
and, in the same run, a native Kamailio config holding the same credentials in an htable (the
ceiling), and drives both with sipp at rising rates: each registration is REGISTER → 401 →
REGISTER with the digest answer → 200, a fresh nonce every time. Each rate runs for
``--seconds`` against one server, then the other (the order alternates between rates). A step is
clean when sipp reports 0 failed calls, 0 retransmissions, every registration done, and the rate
held. Prints a table, the highest clean rate of each server and their ratio. Bounded, 127.0.0.1
only, stops everything it started.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sip_common as common

TARGET_RATE = 8000
TARGET_RATIO = 0.8

REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500" start_rtd="1"><![CDATA[
REGISTER sip:[field1] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field0]@[field1]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
User-Agent: cloudpbx-bench
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
User-Agent: cloudpbx-bench
Expires: 3600
Content-Length: 0

  ]]></send>
  <recv response="200" rtd="1"/>
</scenario>
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rate", type=int, default=30000, help="registrations/s")
    parser.add_argument("--step", type=int, default=2000, help="rate increment")
    parser.add_argument("--start", type=int, default=0, help="first rate (default: --step)")
    parser.add_argument("--seconds", type=float, default=10, help="length of each step")
    parser.add_argument("--phones", type=int, default=2000, help="terminals with credentials")
    parser.add_argument("--generators", type=int, default=2, help="sipp processes per step")
    parser.add_argument(
        "--children",
        type=int,
        default=0,
        help="Kamailio UDP workers (default: cloudpbx's default for this machine)",
    )
    parser.add_argument("--shm-mb", type=int, default=256, help="Kamailio shared memory")
    parser.add_argument(
        "--give-up", type=int, default=2, help="stop a server after N unclean steps in a row"
    )
    parser.add_argument("--servers", default="cloudpbx,native")
    parser.add_argument(
        "--kamailio-args",
        default="",
        help="extra Kamailio options for both servers, for experiments (e.g. '-x tlsf')",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, stats)")
    args = parser.parse_args()

    print(common.machine(), flush=True)
    common.terminate_on_signals()
    processes = common.Processes()
    work = common.work_dir(args.keep)
    try:
        common.setup_django(work / "data")
        args.children = args.children or common.default_children()
        print(
            f"Kamailio children: {args.children}, shm {args.shm_mb} MB {args.kamailio_args}",
            flush=True,
        )
        phones = common.seed(args.phones)
        print(f"seeded {len(phones)} phones", flush=True)
        servers = common.servers(processes, work, args, phones)
        print(common.describe(servers), flush=True)
        for server in servers:
            server.start()
        # Each generator registers its own share of the phones, from its own port.
        groups = [phones[g :: args.generators] for g in range(args.generators)]
        users = [
            common.write_users(work / f"users-{g}.csv", group) for g, group in enumerate(groups)
        ]
        ports = [common.free_port() for _ in groups]

        def step(server: common.Server, rate: float, seconds: float) -> common.Step:
            per_generator = rate / args.generators
            calls = int(per_generator * seconds)
            sipps = [
                common.Sipp(
                    processes,
                    work / "steps" / f"{server.short}-{rate:g}-{g}",
                    f"register-{g}",
                    REGISTER,
                    server.port,
                    local_port=ports[g],
                    rate=per_generator,
                    calls=calls,
                    users=users[g],
                    timeout=seconds * 2 + 20,
                )
                for g in range(args.generators)
            ]
            return common.measure(server, rate, seconds, sipps, calls * args.generators)

        # Warm-up: every phone registers ~10 times with each server, so that each Kamailio
        # worker has most accounts in its cache (and usrloc has every record) before the first
        # step; cloudpbx's cache entries then expire 30 s after loading, as in production.
        for server in servers:
            warm = step(server, 4000, max(3.0, args.phones * 10 / 4000))
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
                print(common.table([result], "reg").splitlines()[-1], flush=True)
            if all(count >= args.give_up for count in unclean.values()):
                break

        print()
        print(common.table(steps, "reg"))
        print()
        print(common.summary(steps, servers, "reg"))
        best = {
            s.short: max((x.rate for x in steps if x.server == s.short and x.clean), default=0)
            for s in servers
        }
        if "cloudpbx" in best:
            met = best["cloudpbx"] >= TARGET_RATE
            print(f"target ≥ {TARGET_RATE:,} reg/s: {'met' if met else 'NOT met'}")
        if best.get("native") and "cloudpbx" in best:
            ratio = best.get("cloudpbx", 0) / best["native"]
            met = ratio >= TARGET_RATIO
            print(f"target ≥ {TARGET_RATIO} of native: {'met' if met else 'NOT met'}")
        return 0
    finally:
        processes.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    common.run(main)

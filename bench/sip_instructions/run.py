"""Instructions per registration and per call, cloudpbx against native Kamailio, under callgrind.

    .venv/bin/python bench/sip_instructions/run.py [--registrations 500] [--calls 200]

The rate benchmarks (``bench/sip_register``, ``bench/sip_calls``) answer "how fast", but on a
shared 2-core machine their highest clean rate moves by a whole step from run to run and their
CPU time per request by ±20 %. This one answers "how much work" exactly: each server runs under
valgrind's callgrind (one UDP worker, everything else as in the rate benchmarks), a warm-up of
the same size is sent first, the counters are zeroed, and the instructions executed by every
Kamailio process during the measured requests are divided by their number. Repeated runs agree
to within 0.1 %, so a change of a few hundred instructions per request is visible.

A registration is REGISTER → 401 → REGISTER with the answer → 200 (``bench/sip_register``); a
call is INVITE → 407 → ACK → INVITE → 100/180/200 → ACK → BYE → 200 through the proxy to a
registered desk phone (``bench/sip_calls``), at a low rate, one at a time. Prints instructions
per unit for each server and native / cloudpbx (higher is better, 1.0 = no cost for Python).
Instructions are not time (cache misses, system calls and the kernel's UDP work are not in
them): read these ratios next to the rate benchmarks, not instead of them.

Bounded (a fixed number of requests, 127.0.0.1 only) and stops everything it started.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

import sip_common as common  # noqa: E402 (the shared module is found through sys.path)


def _scenarios(name: str) -> ModuleType:
    """The scenarios of a rate benchmark (its ``run.py``), so both measure the same requests."""
    spec = importlib.util.spec_from_file_location(f"{name}_run", BENCH / name / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


register_bench = _scenarios("sip_register")
calls_bench = _scenarios("sip_calls")

VALGRIND = shutil.which("valgrind") or "/usr/bin/valgrind"
CALLGRIND_CONTROL = shutil.which("callgrind_control") or "/usr/bin/callgrind_control"
PGREP = shutil.which("pgrep") or "/usr/bin/pgrep"
START_TIMEOUT = 900  # Python and Django start ~50 times slower under valgrind


class Counted:
    """A server whose every process runs under callgrind, writing ``cg.<pid>[.<dump>]``."""

    def __init__(self, server: common.Server, out: Path) -> None:
        self.server = server
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        callgrind = f"--callgrind-out-file={out}/cg.%p"
        server.wrap([VALGRIND, "--tool=callgrind", "--trace-children=yes", callgrind])

    def pids(self) -> list[int]:
        found = subprocess.run(  # noqa: S603
            [PGREP, "-g", str(self.server.pgid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]

    def _control(self, flag: str) -> None:
        for pid in self.pids():
            command = [CALLGRIND_CONTROL, flag, str(pid)]
            subprocess.run(command, capture_output=True, check=False)  # noqa: S603

    def instructions(self, workload: Callable[[], None]) -> int:
        """Instructions executed by all Kamailio processes while ``workload()`` runs."""
        before = set(self.out.glob("cg.*.*"))
        self._control("-z")
        common.sip_ping(self.server.port, timeout=5)  # a blocked worker acts on commands later
        workload()
        self._control("-d")
        wanted = len(self.pids())
        deadline = time.monotonic() + 60
        while True:
            dumps = set(self.out.glob("cg.*.*")) - before
            if len(dumps) >= wanted:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"callgrind dumped {len(dumps)} of {wanted} processes")
            common.sip_ping(self.server.port, timeout=1)
        total = 0
        for dump in dumps:
            match = re.search(r"^summary: (\d+)", dump.read_text(errors="replace"), re.M)
            total += int(match.group(1)) if match else 0
        return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=500)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--servers", default="cloudpbx,native")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (callgrind files)")
    args = parser.parse_args()
    args.children, args.shm_mb, args.kamailio_args = 1, 256, ""

    print(common.machine(), flush=True)
    common.terminate_on_signals()
    processes = common.Processes()
    work = common.work_dir(args.keep)
    results: dict[str, dict[str, float]] = {}
    try:
        common.setup_django(work / "data")
        phones = common.seed(51, ringing=1)
        desk, callers = phones[0], phones[1:]
        for server in common.servers(processes, work, args, phones):
            counted = Counted(server, work / "callgrind" / server.short)
            server.start(timeout=START_TIMEOUT)
            registration = measure_registrations(processes, work, counted, args, callers)
            call = measure_calls(processes, work, counted, args, desk, callers)
            results[server.short] = {"registration": registration, "call": call}
            print(f"{server.name}: {results[server.short]}", flush=True)
            server.stop()
        print()
        print(report(results))
        return 0
    finally:
        processes.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def measure_registrations(
    processes: common.Processes,
    work: Path,
    counted: Counted,
    args: argparse.Namespace,
    phones: list[common.Phone],
) -> float:
    server = counted.server
    users = common.write_users(work / f"reg-{server.short}.csv", phones)
    port = common.free_port()

    def register(name: str) -> None:
        stats = common.Sipp(
            processes, work / server.short / name, name, register_bench.REGISTER, server.port,
            local_port=port, rate=100, calls=args.registrations, users=users,
            timeout=args.registrations / 100 * 4 + 60,
        ).start().wait()  # fmt: skip
        if stats.successful != args.registrations or stats.retransmissions:
            raise SystemExit(f"{server.name}: registrations {name} not clean: {stats}")

    register("warm-up")
    return counted.instructions(lambda: register("measured")) / args.registrations


def measure_calls(
    processes: common.Processes,
    work: Path,
    counted: Counted,
    args: argparse.Namespace,
    desk: common.Phone,
    callers: list[common.Phone],
) -> float:
    server = counted.server
    desk_port = common.free_port()
    registered = common.Sipp(
        processes, work / server.short, "desk", register_bench.REGISTER, server.port,
        local_port=desk_port, calls=1, users=common.write_users(work / "desk.csv", [desk]),
        timeout=60,
    ).start().wait()  # fmt: skip
    if registered.successful != 1:
        raise SystemExit(f"the desk phone could not register with {server.name}")
    users = common.write_users(work / f"callers-{server.short}.csv", callers, desk.extension or "")
    scenario = calls_bench.CALL.replace("{hold_ms}", "100")

    def call(name: str) -> None:
        answering = common.Sipp(
            processes, work / server.short / name, "uas", calls_bench.ANSWER, server.port,
            local_port=desk_port, calls=args.calls, timeout=args.calls / 10 * 4 + 60,
        ).start()  # fmt: skip
        time.sleep(0.5)  # the UAS listens before the first INVITE
        stats = common.Sipp(
            processes, work / server.short / name, "uac", scenario, server.port,
            rate=10, calls=args.calls, users=users, timeout=args.calls / 10 * 4 + 60,
        ).start().wait()  # fmt: skip
        answered = answering.wait(timeout=60)
        if stats.successful != args.calls or stats.retransmissions or answered.retransmissions:
            raise SystemExit(f"{server.name}: calls {name} not clean: {stats} / {answered}")

    call("warm-up")
    return counted.instructions(lambda: call("measured")) / args.calls


def report(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| unit | cloudpbx (instructions) | native (instructions) | native / cloudpbx |",
        "|---|---:|---:|---:|",
    ]
    for unit in ("registration", "call"):
        ours = results.get("cloudpbx", {}).get(unit)
        theirs = results.get("native", {}).get(unit)
        ratio = f"{theirs / ours:.2f}" if ours and theirs else "-"
        lines.append(f"| {unit} | {ours or 0:,.0f} | {theirs or 0:,.0f} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    common.run(main)

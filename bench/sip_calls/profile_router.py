"""Where the router's own Python time goes, without Kamailio.

    .venv/bin/python bench/sip_calls/profile_router.py [--requests 20000] [--top 25]

Runs ``cloudpbx.sip.ksr.Router`` (the code Kamailio calls) against a stand-in ``KSR`` module
whose functions return at once, on a throw-away SQLite database seeded through the service
layer, for the requests of the benchmarks: REGISTER with credentials, the first INVITE (answered
with a challenge), the INVITE with credentials to an extension (plus its branch route), and the
in-dialog ACK and BYE. Prints µs per request (Python only: Kamailio's own work in the ``KSR``
functions — parsing, digest, usrloc, tm — is not in these numbers, the call boundary is only
partly) and a cProfile of the INVITE. Counts the ``KSR`` calls per request, each of which crosses
app_python3's C boundary inside Kamailio.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
import types
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sip_common as common


class FakeKSR(types.ModuleType):
    """Just enough of Kamailio's KSR for the router's paths. Functions are created on first use
    and then looked up like real attributes; with ``count`` each call is also counted."""

    def __init__(self, count: bool = False) -> None:
        super().__init__("KSR")
        self.count = count
        self.calls: Counter[str] = Counter()
        self.method = "REGISTER"
        self.in_dialog = False
        self.generation = 1  # the portal's cache generation (htable cache=>gen)
        self.pvs: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name.startswith("is_"):
            method = name[3:]
            value: Any = self.wrap(name, lambda *a: self.method == method)
        elif name in {"setbflag", "setflag", "isflagset"}:
            value = self.wrap(name, lambda *a: 1)
        else:
            value = _Submodule(self, name)
        setattr(self, name, value)
        return value

    def wrap(self, name: str, function: Any) -> Any:
        if not self.count:
            return function

        def call(*args: Any) -> Any:
            self.calls[name] += 1
            return function(*args)

        return call


class _Submodule:
    def __init__(self, ksr: FakeKSR, name: str) -> None:
        self.ksr = ksr
        self.name = name

    def __getattr__(self, function: str) -> Any:
        ksr = self.ksr
        full = f"{self.name}.{function}"
        behaviour: dict[str, Any] = {
            "pv.get": lambda name: ksr.pvs.get(name),
            "htable.sht_get": lambda table, key: ksr.generation if table == "cache" else None,
            "siputils.has_totag": lambda: 1 if ksr.in_dialog else -1,
            "tm.t_check_trans": lambda: -1,
            "hdr.is_present": lambda header: 1 if ksr.pvs.get(f"$hdr({header})") else -1,
            "nathelper.nat_uac_test": lambda flags: -1,
        }
        value = ksr.wrap(full, behaviour.get(full, lambda *args: 1))
        setattr(self, function, value)
        return value


def digest_header(username: str) -> str:
    """A credentials header as sipp sends it."""
    return (
        f'Digest username="{username}",realm="127.0.0.1",cnonce="6b8b4567",nc=00000001,'
        f'qop=auth,uri="sip:127.0.0.1",nonce="aw8wxWsPL5nZlzjvnBMFNJjX",response="{"0" * 32}",'
        "algorithm=MD5"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cloudpbx-routerprof-"))
    try:
        return profile(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def profile(args: argparse.Namespace, work: Path) -> int:
    fast, counting = FakeKSR(), FakeKSR(count=True)
    sys.modules["KSR"] = fast
    common.setup_django(work)
    phones = common.seed(201, ringing=1)
    desk, callers = phones[0], phones[1:]

    from cloudpbx import config
    from cloudpbx.sip import ksr as ksr_module
    from cloudpbx.sip.ksr import Router

    router = Router(config.load())
    state = {"ksr": fast, "miss": False}

    def request(method: str, pvs: dict[str, str], in_dialog: bool = False) -> None:
        ksr = state["ksr"]
        ksr.method, ksr.in_dialog, ksr.pvs = method, in_dialog, pvs
        if state["miss"]:
            ksr.generation += 1  # as after a change in the portal: every cache entry dropped
        router.ksr_request_route(None)

    def register(index: int) -> None:
        phone = callers[index % len(callers)]
        request(
            "REGISTER",
            {
                "$si": "127.0.0.1",
                "$rm": "REGISTER",
                "$au": phone.username,
                "$hdr(Authorization)": digest_header(phone.username),
                "$(hdr(Contact)[*])": f"<sip:{phone.username}@127.0.0.1:5062>",
            },
        )

    def invite_challenge(index: int) -> None:
        request("INVITE", {"$si": "127.0.0.1", "$rm": "INVITE", "$rU": desk.extension or ""})

    def invite(index: int) -> None:
        phone = callers[index % len(callers)]
        pvs = {
            "$si": "127.0.0.1",
            "$rU": desk.extension or "",
            "$au": phone.username,
            "$fU": phone.username,
            "$rd": "127.0.0.1",
            "$rm": "INVITE",
            "$ru": f"sip:{desk.username}@127.0.0.1:5062",
            "$du": "sip:127.0.0.1:5062",
            "$hdr(Proxy-Authorization)": digest_header(phone.username),
        }
        request("INVITE", pvs)
        router.ksr_branch_ring(None)

    def in_dialog(index: int) -> None:
        method = ("ACK", "BYE")[index % 2]
        pvs = {
            "$si": "127.0.0.1",
            "$rm": method,
            "$ru": f"sip:{desk.username}@127.0.0.1:5062",
            "$hdr(Route)": "<sip:127.0.0.1;lr>",
        }
        request(method, pvs, in_dialog=True)

    cases = [
        ("REGISTER with credentials", register, False),
        ("REGISTER with credentials, cache miss", register, True),
        ("INVITE without credentials (→ 407)", invite_challenge, False),
        ("INVITE with credentials + branch route", invite, False),
        ("INVITE with credentials, cache miss", invite, True),
        ("in-dialog ACK / BYE", in_dialog, False),
    ]
    print(f"{'request':42} {'µs (Python only)':>17} {'KSR calls':>10}")
    counts: dict[str, Counter[str]] = {}
    for name, function, miss in cases:
        state["miss"] = miss
        for ksr in (counting, fast):
            ksr_module.KSR = ksr  # type: ignore[attr-defined]
            state["ksr"] = ksr
            for index in range(1000):  # warm the caches
                function(index)
        counting.calls.clear()
        ksr_module.KSR, state["ksr"] = counting, counting  # type: ignore[attr-defined]
        for index in range(1000):
            function(index)
        counts[name] = Counter(counting.calls)
        ksr_module.KSR, state["ksr"] = fast, fast  # type: ignore[attr-defined]
        started = time.perf_counter()
        for index in range(args.requests):
            function(index)
        elapsed = time.perf_counter() - started
        per_request = sum(counts[name].values()) / 1000
        print(f"{name:42} {elapsed / args.requests * 1e6:17.1f} {per_request:10.1f}")
    state["miss"] = False

    # What the stand-in itself costs: the same number of calls to functions that return 1.
    def nothing(*args: Any) -> int:
        return 1

    started = time.perf_counter()
    for _ in range(args.requests * 32):
        nothing("x")
    overhead = (time.perf_counter() - started) / args.requests
    print(f"(32 calls of an empty Python function: {overhead * 1e6:.1f} µs)")

    print("\nKSR calls of one INVITE with credentials (+ branch route):")
    invite_calls = counts["INVITE with credentials + branch route"]
    for key, count in invite_calls.most_common():
        print(f"  {count / 1000:4.1f}  KSR.{key}")

    for title, function in (("INVITE with credentials", invite), ("REGISTER", register)):
        profile = cProfile.Profile()
        profile.enable()
        for index in range(args.requests):
            function(index)
        profile.disable()
        print(f"\ncProfile of the {title}, by own time:")
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

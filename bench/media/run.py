"""Media relay benchmark: concurrent G.711 calls relayed by rtpengine (userspace), on loopback.

    .venv/bin/python bench/media/run.py [--calls 50,100,200,400] [--seconds 10] [--workers 2]

Starts rtpengine exactly as ``cloudpbx run`` does (``cloudpbx.sip.rtpengine.child``, userspace,
``table = -1``; on ports 10000-19999, apart from the other relays: see ``MEDIA_PORTS``) and, for
each step of ``--calls``, sets up that many calls over the ng protocol alone (no SIP): an
``offer`` naming the caller's RTP socket and an ``answer`` naming the callee's, with the flags
cloudpbx's Kamailio uses (replace origin and session connection, ICE removed). Every call then
carries real RTP both ways for ``--seconds``: PCMU, 20 ms packets (12-byte header, 160-byte
payload), 50 packets/s per direction, i.e. each call's two legs through the relay. Phones are
not phase-locked, so the streams are spread over ten 2 ms slots of the 20 ms period, each on an
absolute schedule. The generator is ``--workers`` forked Python processes (epoll, non-blocking
sockets), each owning both ends of a slice of the calls: at 400 calls one process would need
about 0.7 of a core (0.9 millicores per relayed stream, measured at 50 calls), little headroom
on 2 cores shared with rtpengine; two keep each process near a third of a core
(``--workers 1`` measures the single-process generator).

The same streams are also sent directly from caller socket to callee socket (no relay) in the
same step, with the same generator code: the baseline for the generator's own cost and for the
loss and jitter of loopback and scheduling alone. Per step and mode: packets sent and lost (a
packet not received 200 ms after the last one was sent), RFC 3550 interarrival jitter from the
send time carried in the payload, the generator's CPU, rtpengine's CPU and the calls one core
of rtpengine carries at that rate, how late the generator's ticks were, and the machine's busy
fraction. Jitter "mean" is the mean over streams of each stream's average estimate, "max" the
highest the estimate of any stream reached. Tick lateness is how late a slot's sends started
against the schedule. A step whose generator could not hold its schedule (mean lateness over
2 ms or a process at 90 % of a core) is marked "generator saturated": its loss says nothing
about the relay.

Target: ≥ 200 concurrent relayed calls with < 0.1 % loss; rtpengine's CPU per call is compared
with the published userspace figure (about 450-600 calls per core: 3,000-4,000 concurrent calls
on 8 cores at 6.5 cores busy, sipwise/rtpengine issue 128). Bounded: 127.0.0.1 only, a fixed
number of packets, every call deleted and every process stopped at the end (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sip_common as common

TARGET_CALLS = 200
TARGET_LOSS = 0.001  # 0.1 %
PUBLISHED_CALLS_PER_CORE = (450, 600)

PTIME = 0.020  # seconds per packet
SAMPLES = 160  # 8 kHz x 20 ms: the RTP timestamp step and the PCMU payload size
SLOTS = 10  # phases of the 20 ms period the streams are spread over
DRAIN = 0.2  # seconds to wait for packets in flight after the last send
WARM_UP = 2.0  # seconds, relayed, before the first measured step
# rtpengine's media ports (four per call: RTP and RTCP on both sides) and its ng port: below
# the ephemeral range and apart from the tests' relays (bench/sip_common.py says why).
MEDIA_PORTS, NG_PORTS = common.NATIVE_RELAY_PORTS

# RTP header (V=2, no padding/extension/CSRC, M=0, PT=0 PCMU) and the send time (monotonic
# seconds) at the start of the payload; the rest of the payload is PCMU silence.
HEADER = struct.Struct("!BBHIId")
FILL = b"\xff" * (SAMPLES - 8)
PACKET_SIZE = HEADER.size + len(FILL)
SENT_AT = struct.Struct("!d")

# The generator cannot keep up when its ticks are on average this late, or a worker uses this
# share of a core; a tick later than one packet interval bunches packets.
SATURATED_MEAN_LATENESS = 0.002
SATURATED_CPU = 0.9
LATE_TICK = PTIME


# --- streams and the generator ----------------------------------------------------------------


@dataclass
class Stream:
    """One direction of one call: sent from ``sender`` to ``destination``, read at
    ``receiver``."""

    sender: socket.socket
    destination: tuple[str, int]
    receiver: socket.socket
    ssrc: int


class Reception:
    """What arrived on one stream: count and the RFC 3550 interarrival jitter estimate."""

    __slots__ = ("jitter", "jitter_peak", "jitter_sum", "last_transit", "received", "samples")

    def __init__(self) -> None:
        self.received = 0
        self.last_transit = 0.0
        self.jitter = 0.0  # seconds
        self.jitter_sum = 0.0  # over the packets after the first: for the stream's mean
        self.jitter_peak = 0.0
        self.samples = 0

    def arrived(self, transit: float) -> None:
        if self.received:
            # J += (|D| - J) / 16, D the difference of two consecutive packets' transit times.
            self.jitter += (abs(transit - self.last_transit) - self.jitter) / 16
            self.jitter_sum += self.jitter
            self.samples += 1
            if self.jitter > self.jitter_peak:
                self.jitter_peak = self.jitter
        self.last_transit = transit
        self.received += 1


@dataclass
class Result:
    """One generator process's counts over one phase (picklable: sent back over a pipe)."""

    streams: int = 0
    sent: int = 0
    send_errors: int = 0
    received: int = 0
    foreign: int = 0  # datagrams that were not our RTP
    silent_streams: int = 0  # streams of which nothing arrived
    jitter_mean_sum: float = 0.0  # sum over streams of each stream's mean jitter, seconds
    jitter_streams: int = 0
    jitter_peak: float = 0.0
    late_max: float = 0.0
    late_sum: float = 0.0
    events: int = 0
    cpu: float = 0.0  # CPU seconds of the process while sending and draining
    sending: float = 0.0  # seconds from the first to the end of the last send
    cpu_share: float = 0.0  # cpu / sending: the share of a core one process used

    def add(self, other: Result) -> None:
        for name in (
            "streams", "sent", "send_errors", "received", "foreign", "silent_streams",
            "jitter_mean_sum", "jitter_streams", "late_sum", "events", "cpu",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.jitter_peak = max(self.jitter_peak, other.jitter_peak)
        self.late_max = max(self.late_max, other.late_max)
        self.sending = max(self.sending, other.sending)
        self.cpu_share = max(self.cpu_share, other.cpu_share)


def generate(streams: list[Stream], start_at: float, ticks: int) -> Result:
    """Send ``ticks`` packets on every stream from ``start_at`` on, receive them, then drain.

    Stream ``i`` sends in slot ``i % SLOTS``; event ``k`` (slot ``k % SLOTS`` of tick
    ``k // SLOTS``) is due at ``start_at + k * PTIME / SLOTS``: an absolute schedule, so a late
    tick does not delay the ones after it. The hot loops avoid what costs most in Python per
    packet: one ``recv`` per readiness (level-triggered epoll reports a socket again while
    datagrams are queued, a second ``recv`` would mostly raise), packets packed in place."""
    result = Result(streams=len(streams))
    receptions = [Reception() for _ in streams]
    poller = select.epoll()
    readers: dict[int, tuple[Any, Reception]] = {}
    for stream, reception in zip(streams, receptions, strict=True):
        poller.register(stream.receiver.fileno(), select.EPOLLIN)
        readers[stream.receiver.fileno()] = (stream.receiver.recv, reception)
    slots: list[list[tuple[Any, tuple[str, int], int, bytearray]]] = [[] for _ in range(SLOTS)]
    for index, stream in enumerate(streams):
        packet = bytearray(HEADER.size) + FILL
        slots[index % SLOTS].append((stream.sender.sendto, stream.destination, stream.ssrc, packet))
    interval = PTIME / SLOTS
    events = ticks * SLOTS
    monotonic, pack_into, sent_at = time.monotonic, HEADER.pack_into, SENT_AT.unpack_from

    def poll(timeout: float) -> None:
        for fd, _mask in poller.poll(timeout):
            recv, reception = readers[fd]
            try:
                data = recv(2048)
            except BlockingIOError:
                continue
            arrived = monotonic()
            if len(data) != PACKET_SIZE or data[0] != 0x80:
                result.foreign += 1
                continue
            reception.arrived(arrived - sent_at(data, 12)[0])

    delay = start_at - monotonic()
    if delay > 0:
        time.sleep(delay)
    cpu_before = time.process_time()
    event = 0
    try:
        while event < events:
            due = start_at + event * interval
            now = monotonic()
            if now < due:
                poll(due - now)
                continue
            late = now - due
            result.late_sum += late
            result.late_max = max(result.late_max, late)
            tick = event // SLOTS
            sequence, timestamp = tick & 0xFFFF, (tick * SAMPLES) & 0xFFFFFFFF
            for sendto, destination, ssrc, packet in slots[event % SLOTS]:
                pack_into(packet, 0, 0x80, 0, sequence, timestamp, ssrc, monotonic())
                try:
                    sendto(packet, destination)
                    result.sent += 1
                except OSError:
                    result.send_errors += 1
            event += 1
        result.sending = monotonic() - start_at
        deadline = monotonic() + DRAIN
        while (left := deadline - monotonic()) > 0:
            poll(left)
        result.cpu = time.process_time() - cpu_before
    finally:
        poller.close()
    result.cpu_share = result.cpu / result.sending if result.sending else 0.0
    result.events = events
    for reception in receptions:
        result.received += reception.received
        result.silent_streams += reception.received == 0
        if reception.samples:
            result.jitter_mean_sum += reception.jitter_sum / reception.samples
            result.jitter_streams += 1
        result.jitter_peak = max(result.jitter_peak, reception.jitter_peak)
    return result


def worker(streams: list[Stream], start_at: float, ticks: int, pipe: Connection) -> None:
    """A generator process (forked: it inherits the sockets of its slice of the calls).

    Interruptions are the parent's to handle: it terminates the workers (SIGTERM, the default
    action) before it stops rtpengine; left alone, a worker ends after its fixed packet count."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    result = generate(streams, start_at, ticks)
    try:
        pipe.send(result)
    except OSError:
        pass  # the parent is gone
    finally:
        pipe.close()


# --- calls ------------------------------------------------------------------------------------


@dataclass
class Call:
    """The two media endpoints of one call, and where each sends (the relay or the peer)."""

    caller: socket.socket
    callee: socket.socket
    call_id: str = ""
    caller_sends_to: tuple[str, int] = ("127.0.0.1", 0)
    callee_sends_to: tuple[str, int] = ("127.0.0.1", 0)

    def streams(self, index: int) -> list[Stream]:
        return [
            Stream(self.caller, self.caller_sends_to, self.callee, ssrc=2 * index + 1),
            Stream(self.callee, self.callee_sends_to, self.caller, ssrc=2 * index + 2),
        ]

    def close(self) -> None:
        self.caller.close()
        self.callee.close()


def endpoint() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def sdp(port: int) -> str:
    lines = [
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
        f"m=audio {port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=ptime:20",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def media_address(answer: dict[str, Any]) -> tuple[str, int]:
    """The connection address and audio port of the SDP rtpengine returned."""
    body = str(answer.get("sdp", ""))
    connection = re.search(r"^c=IN IP4 (\S+)", body, re.MULTILINE)
    audio = re.search(r"^m=audio (\d+) ", body, re.MULTILINE)
    if not connection or not audio:
        raise RuntimeError(f"rtpengine returned an SDP without an audio address: {body!r}")
    return connection.group(1), int(audio.group(1))


def open_calls(count: int) -> list[Call]:
    calls = []
    try:
        for _ in range(count):
            calls.append(Call(endpoint(), endpoint()))
    except BaseException:
        close_calls(calls)
        raise
    return calls


def close_calls(calls: list[Call]) -> None:
    for call in calls:
        call.close()


def connect_directly(calls: list[Call]) -> None:
    for call in calls:
        call.caller_sends_to = ("127.0.0.1", port_of(call.callee))
        call.callee_sends_to = ("127.0.0.1", port_of(call.caller))


def anchor(config: Any, calls: list[Call], phase: str) -> None:
    """Offer and answer every call at the relay, as Kamailio's rtpengine module would."""
    from cloudpbx.sip import rtpengine

    flags = {
        "replace": ["origin", "session-connection"],
        "ICE": "remove",
        # Media comes from where the SDP says (there is no SIP source address to use).
        "flags": ["trust-address"],
    }
    run = secrets.token_hex(4)
    for index, call in enumerate(calls):
        call.call_id = f"bench-media-{run}-{phase}-{index}"
        offer = rtpengine.ng(
            config,
            {"command": "offer", "call-id": call.call_id, "from-tag": "caller",
             "sdp": sdp(port_of(call.caller)), **flags},
        )  # fmt: skip
        answer = rtpengine.ng(
            config,
            {"command": "answer", "call-id": call.call_id, "from-tag": "caller",
             "to-tag": "callee", "sdp": sdp(port_of(call.callee)), **flags},
        )  # fmt: skip
        # The offer's SDP goes to the callee (where it sends), the answer's to the caller.
        call.callee_sends_to = media_address(offer)
        call.caller_sends_to = media_address(answer)


def release(config: Any, calls: list[Call]) -> int:
    """Delete every anchored call; the number of sessions rtpengine still holds afterwards."""
    from cloudpbx.sip import rtpengine

    for call in calls:
        if call.call_id:
            rtpengine.delete(config, call.call_id)
    return len(rtpengine.calls(config))


@dataclass
class Port:
    """The UDP sockets bound to one port (/proc/net/udp)."""

    inodes: list[int] = field(default_factory=list)
    drops: int = 0  # datagrams dropped at full receive buffers


def udp_ports() -> dict[int, Port]:
    """Every bound UDP port. Every socket of a phase is new: the generator's, and rtpengine's
    too (``delete-delay = 0`` closes them at delete), so the drop counters are the phase's."""
    ports: dict[int, Port] = {}
    with open("/proc/net/udp") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            port = ports.setdefault(int(fields[1].rsplit(":", 1)[1], 16), Port())
            port.inodes.append(int(fields[9]))
            port.drops += int(fields[-1])
    return ports


def socket_owners(inodes: set[int]) -> list[str]:
    """``name pid`` of the processes holding these sockets (only when a port is shared)."""
    links = {f"socket:[{inode}]" for inode in inodes}
    owners = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in links for fd in fds):
                with open(f"/proc/{pid}/comm") as handle:
                    owners.add(f"{handle.read().strip()} {pid}")
        except OSError:
            continue
    return sorted(owners)


# --- steps ------------------------------------------------------------------------------------


@dataclass
class Step:
    calls: int
    mode: str  # "direct" or "relayed"
    result: Result
    relay_cpu: float  # rtpengine CPU seconds during the phase
    machine_busy: float
    generator_drops: int = 0  # at the generator's receive buffers
    relay_drops: int = 0  # at rtpengine's receive buffers
    shared_ports: int = 0  # rtpengine's ports another socket was bound to as well
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.result.sent - self.result.received

    @property
    def loss(self) -> float:
        return self.lost / self.result.sent if self.result.sent else 1.0

    @property
    def relay_cores(self) -> float:
        return self.relay_cpu / self.result.sending if self.result.sending else 0.0

    @property
    def generator_cores(self) -> float:
        return self.result.cpu / self.result.sending if self.result.sending else 0.0

    @property
    def calls_per_core(self) -> float:
        return self.calls / self.relay_cores if self.relay_cores else 0.0

    @property
    def saturated(self) -> bool:
        r = self.result
        mean_late = r.late_sum / r.events if r.events else 0.0
        return mean_late > SATURATED_MEAN_LATENESS or r.cpu_share >= SATURATED_CPU

    @property
    def clean(self) -> bool:
        return not self.problems


def judge(step: Step) -> None:
    r = step.result
    if step.loss >= TARGET_LOSS:
        where = []
        if step.generator_drops:
            where.append(f"{step.generator_drops} at the generator's sockets")
        if step.relay_drops:
            where.append(f"{step.relay_drops} at rtpengine's sockets")
        step.problems.append(
            f"loss ≥ {TARGET_LOSS * 100:g} %" + (f" (dropped: {', '.join(where)})" if where else "")
        )
    if r.silent_streams:
        step.problems.append(f"{r.silent_streams} streams received nothing")
    if r.send_errors:
        step.problems.append(f"{r.send_errors} send errors")
    if r.foreign:
        step.problems.append(f"{r.foreign} foreign datagrams")
    if step.saturated:
        step.problems.append("generator saturated")
    elif r.late_max > LATE_TICK:
        step.problems.append(f"a tick {r.late_max * 1000:.0f} ms late")


def split(calls: list[Call], workers: int) -> list[list[Stream]]:
    """Both directions of a call go to the same worker, which owns both its sockets."""
    slices: list[list[Stream]] = [[] for _ in range(min(workers, len(calls)))]
    for index, call in enumerate(calls):
        slices[index % len(slices)].extend(call.streams(index))
    return slices


def run_generators(calls: list[Call], seconds: float, workers: int) -> Result:
    """Fork the generator processes and wait for their results."""
    context = multiprocessing.get_context("fork")  # the workers inherit the sockets
    ticks = round(seconds / PTIME)
    start_at = time.monotonic() + 0.3 + 0.001 * len(calls) / workers  # everyone set up
    processes: list[BaseProcess] = []
    pipes: list[Connection] = []
    try:
        for streams in split(calls, workers):
            receiving, sending = context.Pipe(duplex=False)
            process = context.Process(target=worker, args=(streams, start_at, ticks, sending))
            process.start()
            sending.close()
            processes.append(process)
            pipes.append(receiving)
        total = Result()
        for pipe in pipes:
            if not pipe.poll(seconds * 3 + 30):
                raise RuntimeError("a generator process did not report")
            total.add(pipe.recv())
        return total
    finally:
        for child in processes:
            if child.is_alive():
                child.terminate()
            child.join(5)
        for pipe in pipes:
            pipe.close()


def phase(
    relay: common.MediaRelay, count: int, mode: str, seconds: float, workers: int, label: str
) -> Step:
    """Set up ``count`` calls, carry media for ``seconds``, tear down: one measured step."""
    calls = open_calls(count)
    try:
        if mode == "relayed":
            anchor(relay.config, calls, label)
        else:
            connect_directly(calls)
        started, relay_before = time.monotonic(), common.group_cpu_seconds(relay.pgid)
        idle_before = common.machine_idle_seconds()
        result = run_generators(calls, seconds, workers)
        relay_cpu = common.group_cpu_seconds(relay.pgid) - relay_before
        idle = common.machine_idle_seconds() - idle_before
        capacity = (os.cpu_count() or 1) * (time.monotonic() - started)
        busy = min(1.0, max(0.0, 1 - idle / capacity)) if capacity else 0.0
        step = Step(count, mode, result, relay_cpu, busy)
        ports, shared = udp_ports(), set()
        for call in calls:
            for number in (port_of(call.caller), port_of(call.callee)):
                step.generator_drops += ports.get(number, Port()).drops
            if call.call_id:  # the relay's ports, where it receives from each side
                for number in (call.caller_sends_to[1], call.callee_sends_to[1]):
                    port = ports.get(number, Port())
                    step.relay_drops += port.drops
                    if len(port.inodes) > 1:
                        step.shared_ports += 1
                        shared.update(port.inodes)
        if step.shared_ports:
            owners = ", ".join(socket_owners(shared))
            step.problems.append(f"{step.shared_ports} relay ports bound twice (by {owners})")
        if mode == "relayed":
            left = release(relay.config, calls)
            if left:
                step.problems.append(f"{left} calls left in rtpengine after delete")
        judge(step)
        if not relay.alive():
            step.problems.append("rtpengine exited")
        return step
    finally:
        close_calls(calls)


# --- output -----------------------------------------------------------------------------------


def row(step: Step) -> str:
    r = step.result
    mean_jitter = r.jitter_mean_sum / r.jitter_streams * 1000 if r.jitter_streams else 0.0
    mean_late = r.late_sum / r.events * 1000 if r.events else 0.0
    per_core = f"{step.calls_per_core:,.0f}" if step.mode == "relayed" else "-"
    clean = "clean" if step.clean else "NOT clean: " + "; ".join(step.problems)
    return (
        f"| {step.calls} | {r.streams} | {step.mode} | {r.sent:,} | {step.lost:,} "
        f"| {step.loss * 100:.3f} | {mean_jitter:.2f} | {r.jitter_peak * 1000:.2f} "
        f"| {step.generator_cores:.2f} | {step.relay_cores:.2f} | {per_core} "
        f"| {r.late_max * 1000:.1f} / {mean_late:.2f} | {step.machine_busy * 100:.0f} % "
        f"| {clean} |"
    )


HEAD = (
    "| calls | streams | mode | packets sent | lost | loss % | mean jitter ms | max jitter ms "
    "| generator CPU (cores) | rtpengine CPU (cores) | rtpengine calls per core "
    "| tick lateness ms max / mean | machine busy | clean? |\n" + "|" + "---|" * 14
)


def verdict(steps: list[Step]) -> list[str]:
    relayed = [s for s in steps if s.mode == "relayed"]
    direct = {s.calls: s for s in steps if s.mode == "direct"}
    best = max((s.calls for s in relayed if s.clean), default=0)
    target = f"target ≥ {TARGET_CALLS} concurrent relayed calls with < {TARGET_LOSS * 100:g} % loss"
    candidates = [s for s in relayed if s.calls >= TARGET_CALLS]
    if any(s.clean for s in candidates):
        lines = [f"{target}: met (highest clean step: {best} calls)"]
    elif any(not s.saturated for s in candidates):
        failed = min((s for s in candidates if not s.saturated), key=lambda s: s.calls)
        lines = [
            f"{target}: NOT met (at {failed.calls} calls: {'; '.join(failed.problems)}; "
            f"highest clean step: {best or 'none'})"
        ]
    elif candidates:
        first = min(s.calls for s in candidates)
        base = direct.get(first)
        lines = [
            f"{target}: not measured, the generator saturated at {first} calls (direct baseline "
            f"{'clean' if base is not None and base.clean else 'not clean either'}); "
            f"highest clean step: {best or 'none'}; the relay was not the limit"
        ]
    else:
        lines = [f"{target}: not measured (no step of {TARGET_CALLS} calls or more)"]
    low, high = PUBLISHED_CALLS_PER_CORE
    # Where the generator held its schedule the relay carried the nominal packet rate.
    measured = [s for s in relayed if not s.saturated and s.relay_cores > 0]
    if measured:
        top = max(measured, key=lambda s: s.calls)
        per_step = ", ".join(f"{s.calls} calls: {s.calls_per_core:,.0f}" for s in measured)
        where = (
            "within"
            if low <= top.calls_per_core <= high
            else ("above" if top.calls_per_core > high else "below")
        )
        lines.append(
            f"rtpengine calls per core ({per_step}); at {top.calls} calls "
            f"{top.calls_per_core:,.0f} calls per core ({top.relay_cores / top.calls * 1000:.2f} "
            f"millicores per call): {where} the published userspace figure of {low}-{high} "
            "(3,000-4,000 calls on 8 cores at 6.5 cores, sipwise/rtpengine#128)"
        )
    return lines


def describe(workers: int) -> str:
    version = subprocess.run(
        ["/usr/bin/rtpengine", "--version"], capture_output=True, text=True, check=False
    )
    text = (version.stdout + version.stderr).strip().splitlines()
    return (
        f"rtpengine {text[0].split()[-1] if text else '?'} (userspace, table = -1); generator: "
        f"{workers} Python process{'es' if workers > 1 else ''}, epoll, streams spread over "
        f"{SLOTS} slots of {PTIME / SLOTS * 1000:g} ms, drain {DRAIN * 1000:.0f} ms"
    )


def raise_file_limit(calls: int) -> None:
    """Two sockets per call here, four per call in rtpengine (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 6 * calls + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="50,100,200,400", help="concurrent calls per step")
    parser.add_argument("--seconds", type=float, default=10, help="length of each measurement")
    parser.add_argument("--workers", type=int, default=2, help="generator processes")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (rtpengine log)")
    args = parser.parse_args()
    counts = [int(value) for value in args.calls.split(",") if value.strip()]
    if not counts or min(counts) < 1 or args.workers < 1 or args.seconds <= 0:
        parser.error("--calls needs positive counts, --workers and --seconds positive values")

    print(common.machine(), flush=True)
    print(describe(args.workers), flush=True)
    common.terminate_on_signals()
    raise_file_limit(max(counts))
    work = common.work_dir(args.keep)
    # cloudpbx's configuration keeps its embedded key in the data dir: a throw-away one.
    os.environ["CLOUDPBX_DATA_DIR"] = str(work / "data")
    os.environ.pop("CLOUDPBX_MODE", None)
    relay: common.MediaRelay | None = None
    try:
        # Its own ports (bench/sip_common.py says why they must not overlap another relay's).
        relay = common.MediaRelay(work / "rtpengine", (MEDIA_PORTS, NG_PORTS))
        relay.start()
        warm = phase(relay, counts[0], "relayed", WARM_UP, args.workers, "warm-up")
        outcome = "clean" if warm.clean else "; ".join(warm.problems)
        print(f"warm-up ({counts[0]} calls relayed, {WARM_UP:g} s): {outcome}", flush=True)
        print()
        print(HEAD, flush=True)
        steps: list[Step] = []
        for count in counts:
            for mode in ("direct", "relayed"):
                step = phase(relay, count, mode, args.seconds, args.workers, f"{count}-{mode}")
                steps.append(step)
                print(row(step), flush=True)
                time.sleep(0.5)  # sockets closed, the relay's ports released
        print()
        for line in verdict(steps):
            print(line)
        return 0
    finally:
        if relay is not None:
            relay.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    common.run(main)

"""A small internet in network namespaces: the PBX and a carrier on public addresses, offices
behind NAT routers (iptables MASQUERADE) that all use the same private range.

    office N:  phone 192.168.1.2 ── 192.168.1.1 [router N, MASQUERADE] WAN ──┐
    internet:  PBX 203.0.113.10, carrier 203.0.113.20 (on the "inet" namespace's lo) ┘
               routers' WANs 198.51.100.1, 192.0.2.1, 203.0.113.129 (each on a /25)

With ``nodes``, the PBX is a cluster instead: each node a namespace of its own on one Ethernet
segment (a bridge in "inet", 203.0.113.0/25), node N at 203.0.113.1N, and the PBX's address
203.0.113.10 a floating service address that the nodes' keepalived moves between them:

    node N:    203.0.113.1N [uplink] ── br0 203.0.113.1 [inet]    (service address on one node)

Only documentation ranges and a private range, only inside namespaces made here; everything
is removed on exit, also on failure. Needs root (CI and the development machine run as root):
without it the fixture fails and says why, it never skips.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import itertools
import os
import re
import select
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
PBX_IP = "203.0.113.10"
CARRIER_IP = "203.0.113.20"
# Public hosts on the internet side (the inet namespace's lo): a prober and sipp phones.
PROBE_IP, CALLER_IP, CALLEE_IP = "203.0.113.30", "203.0.113.31", "203.0.113.32"
SEGMENT_GATEWAY = "203.0.113.1"  # inet's address on the nodes' segment (a /25)


def node_ip(number: int) -> str:
    return f"203.0.113.1{number}"


PHONE_IP = "192.168.1.2"
# Office N's router WAN: (its address, the internet's side), each a /25 of documentation space.
WANS = (
    ("198.51.100.1", "198.51.100.126"),
    ("192.0.2.1", "192.0.2.126"),
    ("203.0.113.129", "203.0.113.254"),
)
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_counter = itertools.count()


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Namespace:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *command: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.name, *command], check=True, capture_output=True
        )

    def prefix(self) -> list[str]:
        """Put before a command to run it in this namespace."""
        return ["ip", "netns", "exec", self.name]

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` in a thread that entered this namespace: sockets it opens (an RPC
        to Kamailio's loopback port, an ng query to rtpengine) are this namespace's."""
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns failed")
                finally:
                    os.close(fd)
                outcome["value"] = function()
            except BaseException as error:  # handed to the caller's thread
                outcome["error"] = error

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]  # type: ignore[no-any-return]

    def forward_tcp(self, port: int, stop: threading.Event, host: str = "127.0.0.1") -> None:
        """Make 127.0.0.1:port of the root namespace (the test PostgreSQL, the portal)
        reachable on this namespace's ``host`` (its loopback by default): a listener opened
        inside, connections relayed from outside."""
        listener = self.call(lambda: socket.create_server((host, port)))

        def serve() -> None:
            with listener:
                while not stop.is_set():
                    if not select.select([listener], [], [], 0.2)[0]:
                        continue
                    inside, _ = listener.accept()
                    outside = socket.create_connection(("127.0.0.1", port))
                    for pair in ((inside, outside), (outside, inside)):
                        threading.Thread(target=_pump, args=pair, daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()

    def udp_bound(self, port: int) -> bool:
        found = subprocess.run(
            [*self.prefix(), "ss", "-Hnlu", f"sport = :{port}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return bool(found.strip())


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


class Lab:
    """The namespaces and links; :meth:`office` numbers start at 1."""

    def __init__(self, offices: int = 2, nodes: int = 0) -> None:
        if os.geteuid() != 0:
            raise PermissionError(
                "the NAT tests build network namespaces and NAT routers: run them as root "
                "(CI and ./cloudpbx.sh test on the development machine do)"
            )
        tag = f"cpbx{os.getpid() % 100000}x{next(_counter)}"
        self.inet = Namespace(f"{tag}-inet")
        self.routers = [Namespace(f"{tag}-r{n}") for n in range(1, offices + 1)]
        self.phones = [Namespace(f"{tag}-p{n}") for n in range(1, offices + 1)]
        self.nodes = [Namespace(f"{tag}-n{n}") for n in range(1, nodes + 1)]
        self.stop = threading.Event()
        self.processes: list[subprocess.Popen[bytes]] = []

    def office(self, number: int) -> Namespace:
        return self.phones[number - 1]

    def node(self, number: int) -> Namespace:
        return self.nodes[number - 1]

    def wan_address(self, number: int) -> str:
        return WANS[number - 1][0]

    def build(self) -> None:
        for ns in (self.inet, *self.routers, *self.phones, *self.nodes):
            ip("netns", "add", ns.name)
            ip("-n", ns.name, "link", "set", "lo", "up")
        public = (CARRIER_IP, PROBE_IP, CALLER_IP, CALLEE_IP)
        for address in public if self.nodes else (PBX_IP, *public):
            ip("-n", self.inet.name, "addr", "add", f"{address}/32", "dev", "lo")
        self.inet.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        if self.nodes:
            self._build_segment()
        for router, phone, (wan, gateway) in zip(self.routers, self.phones, WANS, strict=False):
            ip("-n", router.name, "link", "add", "wan", "type", "veth",
               "peer", "name", f"to-{router.name[-2:]}", "netns", self.inet.name)  # fmt: skip
            ip("-n", router.name, "addr", "add", f"{wan}/25", "dev", "wan")
            ip(
                "-n",
                self.inet.name,
                "addr",
                "add",
                f"{gateway}/25",
                "dev",
                f"to-{router.name[-2:]}",
            )
            ip("-n", router.name, "link", "add", "lan", "type", "veth",
               "peer", "name", "eth0", "netns", phone.name)  # fmt: skip
            ip("-n", router.name, "addr", "add", "192.168.1.1/24", "dev", "lan")
            ip("-n", phone.name, "addr", "add", f"{PHONE_IP}/24", "dev", "eth0")
            for ns, device in ((router, "wan"), (router, "lan"), (phone, "eth0")):
                ip("-n", ns.name, "link", "set", device, "up")
            ip("-n", self.inet.name, "link", "set", f"to-{router.name[-2:]}", "up")
            ip("-n", router.name, "route", "add", "default", "via", gateway)
            ip("-n", phone.name, "route", "add", "default", "via", "192.168.1.1")
            router.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            router.run(
                "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"
            )

    def _build_segment(self) -> None:
        """The nodes' Ethernet segment: what a floating address needs (ARP moves it)."""
        ip("-n", self.inet.name, "link", "add", "br0", "type", "bridge")
        ip("-n", self.inet.name, "addr", "add", f"{SEGMENT_GATEWAY}/25", "dev", "br0")
        ip("-n", self.inet.name, "link", "set", "br0", "up")
        for number, node in enumerate(self.nodes, start=1):
            port = f"to-n{number}"
            ip("-n", node.name, "link", "add", "uplink", "type", "veth",
               "peer", "name", port, "netns", self.inet.name)  # fmt: skip
            ip("-n", self.inet.name, "link", "set", port, "master", "br0")
            ip("-n", self.inet.name, "link", "set", port, "up")
            ip("-n", node.name, "addr", "add", f"{node_ip(number)}/25", "dev", "uplink")
            ip("-n", node.name, "link", "set", "uplink", "up")
            ip("-n", node.name, "route", "add", "default", "via", SEGMENT_GATEWAY)
            # Kamailio listens on the service address also while another node holds it.
            node.run("sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1")

    def cut(self, node: Namespace) -> None:
        """The node drops off the network, as when its machine loses power."""
        number = self.nodes.index(node) + 1
        ip("-n", self.inet.name, "link", "set", f"to-n{number}", "down")

    def spawn(self, ns: Namespace, command: list[str], log: Path) -> Process:
        process = Process(ns.prefix() + command, log)
        self.processes.append(process.popen)
        return process

    def close(self) -> None:
        self.stop.set()
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        for ns in (*self.phones, *self.routers, *self.nodes, self.inet):
            for pid in pids(ns.name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, check=False)


def pids(namespace: str) -> list[int]:
    found = subprocess.run(
        ["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False
    ).stdout
    return [int(pid) for pid in found.split()]


class Process:
    """A child whose output is collected as it comes (baresip rewrites its status line with
    carriage returns), to wait on what it says."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        self.text = ""
        self.popen = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with self.log.open("w") as out:
            while chunk := self.popen.stdout.read1(4096):
                text = decoder.decode(chunk)
                self.text += text
                out.write(text)
                out.flush()

    def wait_for(self, pattern: str, timeout: float, after: int = 0) -> re.Match[str]:
        """The first match in the output from offset ``after``; fails showing the output."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            if match := regex.search(self.text, after):
                return match
            if time.monotonic() > deadline or not self._reader.is_alive():
                raise AssertionError(f"no {pattern!r} after {timeout}s in:\n{self.text[-4000:]}")
            time.sleep(0.05)

    def send(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text.encode())
        self.popen.stdin.flush()


@contextlib.contextmanager
def lab(offices: int = 2, nodes: int = 0) -> Iterator[Lab]:
    built = Lab(offices, nodes)
    try:
        built.build()
        yield built
    finally:
        built.close()

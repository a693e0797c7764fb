"""What really crosses the loopback interface: UDP datagrams read from a raw packet socket
(AF_PACKET on "lo", which needs root, as the NAT lab does), and the RTP they carry.

A sniffer rather than a process's own word, so a test can show that the media between a phone
and the relay is encrypted (SRTP keeps RTP's header in clear and encrypts the payload)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ETHERNET_HEADER = 14  # "lo" frames carry an Ethernet header with zero addresses
UDP = 17


@dataclass(frozen=True)
class Datagram:
    source: tuple[str, int]
    destination: tuple[str, int]
    payload: bytes


@dataclass(frozen=True)
class Rtp:
    payload_type: int
    payload: bytes  # in SRTP: the encrypted payload, then the authentication tag


class Capture:
    """The IPv4 UDP datagrams on "lo" (or, with ``interface=""``, on every interface of the
    network namespace the capture is created in), collected in a thread until :meth:`stop`."""

    def __init__(self, interface: str = "lo") -> None:
        self.interface = interface
        self.datagrams: list[Datagram] = []
        if not hasattr(socket, "AF_PACKET"):
            raise OSError("capturing on the loopback interface needs Linux (AF_PACKET)")
        try:
            self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as error:  # the test fails saying why, it never skips
            raise PermissionError(
                "capturing on the loopback interface needs root (CI and ./cloudpbx.sh test on "
                "the development machine run the tests as root)"
            ) from error
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        if interface:
            self._socket.bind((interface, 0))
        self._socket.settimeout(0.1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stopping.is_set():
            try:
                frame, address = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            if address[2] == PACKET_OUTGOING and self.interface == "lo":
                continue  # "lo" shows every packet twice: as sent, and as received
            datagram = parse_udp(frame[ETHERNET_HEADER:])
            if datagram is not None:
                self.datagrams.append(datagram)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def between(self, sources: Iterable[int], destinations: Iterable[int]) -> list[Datagram]:
        """The datagrams from one of the ``sources`` ports to one of the ``destinations``."""
        wanted_sources, wanted_destinations = set(sources), set(destinations)
        return [
            datagram
            for datagram in list(self.datagrams)
            if datagram.source[1] in wanted_sources
            and datagram.destination[1] in wanted_destinations
        ]


def sip_summary(datagrams: Iterable[Datagram], port: int = 5060, last: int = 60) -> str:
    """The SIP messages to or from ``port``, one line each (who to whom, first line, CSeq):
    what a failing test shows of the signalling."""
    lines = []
    for datagram in datagrams:
        if port not in (datagram.source[1], datagram.destination[1]):
            continue
        text = datagram.payload.decode(errors="replace")
        cseq = next((h for h in text.split("\r\n") if h.lower().startswith("cseq:")), "")
        first = text.split("\r\n", 1)[0]
        (sip, sport), (dip, dport) = datagram.source, datagram.destination
        lines.append(f"{sip}:{sport} -> {dip}:{dport}  {first}  [{cseq}]")
    return "\n".join(lines[-last:])


@contextlib.contextmanager
def capture() -> Iterator[Capture]:
    running = Capture()
    try:
        yield running
    finally:
        running.stop()


def parse_udp(packet: bytes) -> Datagram | None:
    """The UDP datagram in an IPv4 packet; None for anything else."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != UDP:
        return None
    start = (packet[0] & 0x0F) * 4
    source_port, destination_port, length = struct.unpack("!HHH", packet[start : start + 6])
    return Datagram(
        source=(socket.inet_ntoa(packet[12:16]), source_port),
        destination=(socket.inet_ntoa(packet[16:20]), destination_port),
        payload=packet[start + 8 : start + length],
    )


def parse_rtp(data: bytes) -> Rtp | None:
    """An RTP packet's payload type and payload (after the 12-byte header,
    its CSRC list and a header extension); None for what is not RTP (RTCP, STUN)."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    payload_type = data[1] & 0x7F
    if 72 <= payload_type <= 76:
        return None  # RTCP: packet types 200-204 where RTP has its marker bit and type
    start = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10 and len(data) >= start + 4:
        start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
    return Rtp(payload_type=payload_type, payload=data[start:])


def rtp_stream(datagrams: Iterable[Datagram]) -> list[Rtp]:
    """The RTP packets among ``datagrams``, in the order they crossed "lo" (which does not
    reorder)."""
    return [packet for d in datagrams if (packet := parse_rtp(d.payload)) is not None]

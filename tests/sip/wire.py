"""Hand-built SIP over UDP from any loopback address, for what sipp cannot express: forged
dialogs, spoofed sources, digest answers without qop, raw bytes. Plus a fake carrier that
records whatever reaches it (over UDP and TCP) and answers nothing."""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (SIP digest is MD5)


def challenge(response: str) -> dict[str, str]:
    """realm/nonce/qop of a 401/407's WWW-/Proxy-Authenticate header."""
    line = next(
        line
        for line in response.splitlines()
        if line.lower().split(":")[0].endswith("authenticate")
    )
    return dict(re.findall(r'(\w+)="?([^",]+)"?', line.split(":", 1)[1]))


def digest(
    username: str,
    password: str,
    method: str,
    uri: str,
    params: dict[str, str],
    *,
    qop: bool = True,
    nc: str = "00000001",
) -> str:
    ha1 = md5(f"{username}:{params['realm']}:{password}")
    ha2 = md5(f"{method}:{uri}")
    if not qop:
        answer = md5(f"{ha1}:{params['nonce']}:{ha2}")  # RFC 2069: replayable
        return (
            f'Digest username="{username}", realm="{params["realm"]}", '
            f'nonce="{params["nonce"]}", uri="{uri}", response="{answer}", algorithm=MD5'
        )
    cnonce = secrets.token_hex(4)
    answer = md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{username}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", response="{answer}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"'
    )


def code(response: str | None) -> int | None:
    return int(response.split()[1]) if response else None


class Peer:
    """A UDP SIP endpoint on ``ip`` (a loopback address): builds, sends and reads messages."""

    via = "UDP"  # the Via transport; the sent-by is where replies come back

    def __init__(self, server: tuple[str, int], ip: str = "127.0.0.1", domain: str = "") -> None:
        self.server = server
        self.domain = domain or server[0]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.ip, self.port = self.sock.getsockname()
        self.call_id = secrets.token_hex(8)
        self.cseq = 0

    def close(self) -> None:
        self.sock.close()

    def build(
        self,
        method: str,
        ruri: str,
        *,
        user: str = "stranger",
        to_user: str = "",
        to_tag: str = "",
        headers: list[str] | tuple[str, ...] = (),
        contact: str = "",
        body: str = "",
    ) -> str:
        self.cseq += 1
        to = f"<sip:{to_user or user}@{self.domain}>" + (f";tag={to_tag}" if to_tag else "")
        lines = [
            f"{method} {ruri} SIP/2.0",
            f"Via: SIP/2.0/{self.via} {self.sent_by};rport;branch=z9hG4bK{secrets.token_hex(6)}",
            f"From: <sip:{user}@{self.domain}>;tag={self.call_id[:6]}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            f"Contact: {contact or self.contact(user)}",
            "Max-Forwards: 70",
            *headers,
        ]
        if body:
            size = len(body.encode())
            return "\r\n".join(
                [*lines, "Content-Type: application/sdp", f"Content-Length: {size}"]
            ) + ("\r\n\r\n" + body)
        return "\r\n".join([*lines, "Content-Length: 0", ""]) + "\r\n"

    @property
    def sent_by(self) -> str:
        return f"{self.ip}:{self.port}"

    def contact(self, user: str) -> str:
        return f"<sip:{user}@{self.ip}:{self.port}>"

    def send(self, message: str | bytes) -> None:
        data = message.encode() if isinstance(message, str) else message
        self.sock.sendto(data, self.server)

    def receive(self, timeout: float = 3.0) -> str | None:
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        return data.decode(errors="replace")

    def ask(self, message: str | bytes, timeout: float = 3.0) -> str | None:
        """Send and return the first final response (1xx and requests skipped: an ACK or a
        retransmission may still arrive); None when none came."""
        self.send(message)
        while True:
            answer = self.receive(timeout)
            if answer is None or (answer.startswith("SIP/2.0 ") and answer[8] != "1"):
                return answer

    def register(
        self, user: str, password: str, contact: str = "", qop: bool = True, expires: int = 0
    ) -> str | None:
        """REGISTER → 401 → REGISTER with the digest answer; returns the final response.
        ``expires``: the Expires header (``-1``: 0, which removes the contact)."""
        uri = f"sip:{self.domain}"
        extra = [f"Expires: {max(expires, 0)}"] if expires else []
        first = self.ask(self.build("REGISTER", uri, user=user, contact=contact, headers=extra))
        if code(first) != 401:
            return first
        auth = digest(user, password, "REGISTER", uri, challenge(first or ""), qop=qop)
        return self.ask(
            self.build(
                "REGISTER", uri, user=user, contact=contact,
                headers=[*extra, f"Authorization: {auth}"],
            )
        )  # fmt: skip

    def call(self, user: str, password: str, dialled: str) -> str | None:
        """INVITE (with an audio offer) → 407 → INVITE with the digest answer; returns the
        first final response, or None (e.g. while the callee rings: keep receiving)."""
        uri = f"sip:{dialled}@{self.domain}"
        offer = (
            f"v=0\r\no=- 1 1 IN IP4 {self.ip}\r\ns=-\r\nc=IN IP4 {self.ip}\r\nt=0 0\r\n"
            f"m=audio {self.port + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        first = self.ask(self.build("INVITE", uri, user=user, to_user=dialled, body=offer))
        if code(first) != 407:
            return first
        self.send(_ack(first or ""))
        auth = digest(user, password, "INVITE", uri, challenge(first or ""))
        invite = self.build(
            "INVITE", uri, user=user, to_user=dialled, body=offer,
            headers=[f"Proxy-Authorization: {auth}"],
        )  # fmt: skip
        return self.ask(invite, timeout=2.0)


def reply(request: str, status: int, reason: str) -> str:
    """A phone's answer to ``request`` (without a body)."""
    lines = [
        f"SIP/2.0 {status} {reason}",
        *(f"Via: {via}" for via in header(request, "Via")),
        f"From: {header(request, 'From')[0]}",
        f"To: {header(request, 'To')[0]};tag={secrets.token_hex(4)}",
        f"Call-ID: {header(request, 'Call-ID')[0]}",
        f"CSeq: {header(request, 'CSeq')[0]}",
        "Content-Length: 0",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def _ack(response: str) -> str:
    """The ACK of a non-2xx final response (same branch, Call-ID and CSeq number)."""
    cseq = header(response, "CSeq")[0].split()[0]
    request_uri = header(response, "To")[0].split("<", 1)[1].split(">", 1)[0]
    lines = [
        f"ACK {request_uri} SIP/2.0",
        f"Via: {header(response, 'Via')[0]}",
        f"From: {header(response, 'From')[0]}",
        f"To: {header(response, 'To')[0]}",
        f"Call-ID: {header(response, 'Call-ID')[0]}",
        f"CSeq: {cseq} ACK",
        "Max-Forwards: 70",
        "Content-Length: 0",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def header(message: str, name: str) -> list[str]:
    pattern = re.compile(rf"^{re.escape(name)}\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
    return [value.strip() for value in pattern.findall(message)]


@dataclass
class FakeCarrier:
    """Listens on ``ip:port`` over UDP and TCP and records everything that arrives."""

    ip: str
    port: int
    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((self.ip, self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((self.ip, self.port))
        self.tcp.listen()
        self.stopped = threading.Event()
        self.threads = [
            threading.Thread(target=self._udp, daemon=True),
            threading.Thread(target=self._tcp, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _udp(self) -> None:
        self.udp.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                self.received.append(self.udp.recvfrom(65535)[0])
            except (TimeoutError, OSError):
                continue

    def _tcp(self) -> None:
        self.tcp.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                connection, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            with connection:
                connection.settimeout(1)
                try:
                    self.received.append(connection.recv(65535) or b"<tcp connection>")
                except OSError:
                    self.received.append(b"<tcp connection>")

    def close(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join()
        self.udp.close()
        self.tcp.close()

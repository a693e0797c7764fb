"""SIP over a secure WebSocket (RFC 7118) as a browser speaks it, built by hand: the handshake
with any Origin, text frames masked as a client must (RFC 6455), Vias and Contacts with the
``.invalid`` host JsSIP uses."""

from __future__ import annotations

import base64
import secrets
import socket
import ssl
import struct
from pathlib import Path

from .wire import Peer


class HandshakeRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"WebSocket handshake answered {status}")
        self.status = status


def handshake(
    address: tuple[str, int], *, origin: str, ca: Path, path: str = "/sip"
) -> ssl.SSLSocket:
    """Open a secure WebSocket speaking the ``sip`` subprotocol; HandshakeRefused if the
    server answers anything but 101."""
    context = ssl.create_default_context(cafile=str(ca))
    raw = socket.create_connection(address, timeout=5)
    sock = context.wrap_socket(raw, server_hostname=address[0])
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: sip\r\nOrigin: {origin}\r\n\r\n"
    )
    sock.sendall(request.encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    if status != 101:
        sock.close()
        raise HandshakeRefused(status)
    return sock


class WebSocketPeer(Peer):
    """A SIP endpoint over a secure WebSocket, with :class:`Peer`'s messages and helpers."""

    via = "WSS"

    def __init__(self, server: tuple[str, int], *, origin: str, ca: Path, domain: str = "") -> None:
        self.server = server
        self.domain = domain or server[0]
        self.sock = handshake(server, origin=origin, ca=ca)
        self.host = f"{secrets.token_hex(6)}.invalid"
        self.call_id = secrets.token_hex(8)
        self.cseq = 0
        self.ip = "127.0.0.1"  # for the SDP of Peer.call: media comes from this host

    @property
    def port(self) -> int:  # the SDP's media port base in Peer.call
        return int(self.sock.getsockname()[1])

    @property
    def sent_by(self) -> str:
        return self.host

    def contact(self, user: str) -> str:
        return f"<sip:{user}@{self.host};transport=ws>"

    def send(self, message: str | bytes) -> None:
        self._send_frame(0x1, message.encode() if isinstance(message, str) else message)

    def receive(self, timeout: float = 3.0) -> str | None:
        self.sock.settimeout(timeout)
        try:
            while True:
                opcode, payload = self._read_frame()
                if opcode == 0x9:  # ping: the server's keepalive
                    self._send_frame(0xA, payload)
                elif opcode == 0x8:
                    return None
                elif opcode in (0x1, 0x2):
                    return payload.decode(errors="replace")
        except (TimeoutError, ssl.SSLError, OSError):
            return None

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = secrets.token_bytes(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise OSError("WebSocket closed")
            data += chunk
        return data

    def _read_frame(self) -> tuple[int, bytes]:
        first, second = self._read_exactly(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self._read_exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._read_exactly(8))
        mask = self._read_exactly(4) if second & 0x80 else b""
        payload = self._read_exactly(size)
        if mask:
            payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        return first & 0x0F, payload

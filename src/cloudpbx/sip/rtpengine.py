"""The media relay: rtpengine as a supervised child, and a client for its ng control protocol.

rtpengine runs in userspace (``table = -1``: no kernel module, no root). Kamailio's
``rtpengine`` module drives it over the ng protocol on a loopback port; Kamailio's media watch
(:meth:`cloudpbx.sip.ksr.Router.ksr_media_watch`) asks it which calls went silent.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import IO, Any

from cloudpbx.config import Config
from cloudpbx.core.supervisor import Child

BINARY = "/usr/bin/rtpengine"
CONFIG_FILE = "rtpengine.conf"  # in the run dir, generated before every start


class NgError(RuntimeError):
    pass


def interface(config: Config) -> str:
    """``ADDRESS`` or ``ADDRESS!ADVERTISED`` (a server behind 1:1 NAT)."""
    if config.media_advertise:
        return f"{config.media_address}!{config.media_advertise}"
    return config.media_address


def max_calls(config: Config) -> int:
    """Calls the media range carries: four ports each (RTP and RTCP on both legs)."""
    return (config.media_port_max - config.media_port_min + 1) // 4


def render(config: Config) -> str:
    settings = {
        "table": "-1",
        "interface": interface(config),
        "listen-ng": f"127.0.0.1:{config.media_ng_port}",
        "port-min": str(config.media_port_min),
        "port-max": str(config.media_port_max),
        # A full range is refused at once (Kamailio answers 503) instead of rtpengine searching
        # every port for each offer, slowly enough that Kamailio takes it for dead.
        "max-sessions": str(max_calls(config)),
        # Calls are ended by Kamailio's media watch (BYE to both legs) after the media
        # timeout; rtpengine's own, later, only frees sessions whose signalling is gone.
        "timeout": str(config.media_timeout * 2),
        # A deleted call is gone at once: nothing lingers after BYE, CANCEL or a failure.
        "delete-delay": "0",
        "log-level": "5",
        "log-stderr": "true",
        "foreground": "true",
    }
    lines = ["[rtpengine]", *(f"{key} = {value}" for key, value in settings.items())]
    return "\n".join(lines) + "\n"


def write(config: Config, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(render(config))


def answers(config: Config, timeout: float) -> str | None:
    """None when rtpengine answers an ng ping, else why not."""
    try:
        result = ng(config, {"command": "ping"}, timeout=timeout).get("result")
    except NgError as error:
        return "not running" if isinstance(error.__cause__, ConnectionRefusedError) else str(error)
    return None if result == "pong" else f"answered {result!r} to ping"


def child(config: Config, run_dir: Path, output: IO[str] | None = None) -> Child:
    def prepare() -> None:
        write(config, run_dir)

    def ready() -> bool:
        return answers(config, timeout=0.5) is None

    return Child(
        name="rtpengine",
        command=[BINARY, f"--config-file={run_dir / CONFIG_FILE}"],
        prepare=prepare,
        ready=ready,
        output=output,
    )


# --- the ng protocol: "<cookie> <bencoded dictionary>" over UDP -------------------------------


def bencode(value: Any) -> bytes:
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, bool | int):
        return b"i%de" % value
    if isinstance(value, list | tuple):
        return b"l" + b"".join(bencode(item) for item in value) + b"e"
    if isinstance(value, dict):
        items = sorted(
            (key.encode() if isinstance(key, str) else key, v) for key, v in value.items()
        )
        return b"d" + b"".join(bencode(key) + bencode(v) for key, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes) -> Any:
    value, end = _decode(data, 0)
    if end != len(data):
        raise NgError("trailing data after the bencoded answer")
    return value


def _decode(data: bytes, at: int) -> tuple[Any, int]:
    kind = data[at : at + 1]
    if kind == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1 : end]), end + 1
    if kind in (b"l", b"d"):
        items: list[Any] = []
        at += 1
        while data[at : at + 1] != b"e":
            item, at = _decode(data, at)
            items.append(item)
        if kind == b"l":
            return items, at + 1
        return {items[i]: items[i + 1] for i in range(0, len(items), 2)}, at + 1
    colon = data.index(b":", at)
    length = int(data[at:colon])
    raw = data[colon + 1 : colon + 1 + length]
    try:
        return raw.decode(), colon + 1 + length
    except UnicodeDecodeError:
        return raw, colon + 1 + length


def ng(config: Config, command: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
    """Send one ng command to this node's rtpengine and return its answer."""
    cookie = secrets.token_hex(8).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            # Connected, so a port nobody listens on is refused at once rather than timed out.
            sock.connect(("127.0.0.1", config.media_ng_port))
            sock.send(cookie + b" " + bencode(command))
            while True:
                data = sock.recv(65535)
                if data.startswith(cookie + b" "):
                    break
        except OSError as error:
            raise NgError(f"rtpengine {command.get('command')}: {error}") from error
    try:
        answer = bdecode(data[len(cookie) + 1 :])
    except (ValueError, IndexError) as error:
        raise NgError(f"rtpengine answered something unreadable: {error}") from error
    if not isinstance(answer, dict):
        raise NgError("rtpengine answered something other than a dictionary")
    if answer.get("result") == "error":
        raise NgError(f"rtpengine {command.get('command')}: {answer.get('error-reason')}")
    return answer


def calls(config: Config) -> list[str]:
    """The Call-IDs of every session rtpengine holds."""
    return [str(call) for call in ng(config, {"command": "list", "limit": 100000}).get("calls", [])]


def query(config: Config, call_id: str) -> dict[str, Any]:
    """One call's parties, their streams and when each last received media."""
    return ng(config, {"command": "query", "call-id": call_id})


def delete(config: Config, call_id: str) -> None:
    """End a call's media sessions (a call the PBX ended itself sends no BYE through routing)."""
    ng(config, {"command": "delete", "call-id": call_id})

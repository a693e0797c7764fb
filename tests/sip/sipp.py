"""Drive sipp (Debian's ``sip-tester``) from tests: scenarios built here, runs, parsed traces."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HEADERS = """Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {from_} <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{to}@[field1]>
Call-ID: [call_id]
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
User-Agent: sipp-test"""

SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000"""


def _message(first_line: str, headers: str, cseq: str, extra: str = "", body: str = "") -> str:
    lines = [first_line, headers, f"CSeq: {cseq}"]
    if extra:
        lines.append(extra)
    if body:
        lines += ["Content-Type: application/sdp", "Content-Length: [len]", "", body]
    else:
        lines += ["Content-Length: 0", ""]
    return "\n".join(lines) + "\n"


def _send(message: str, retrans: bool = True) -> str:
    attr = ' retrans="500"' if retrans else ""
    return f"  <send{attr}><![CDATA[\n{message}\n  ]]></send>\n"


ACK_NON_2XX = """  <send><![CDATA[
ACK sip:{to}@[field1] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0

  ]]></send>
"""


def register_scenario(expect: int = 200, expires: int = 300, contact_user: str = "") -> str:
    """REGISTER, answer the challenge, expect ``expect``."""
    contact = f"Contact: <sip:{contact_user}@[local_ip]:[local_port]>" if contact_user else ""
    headers = HEADERS.format(from_="", to="[field0]")
    if contact:
        headers = headers.replace("Contact: <sip:[field0]@[local_ip]:[local_port]>", contact)
    first = "REGISTER sip:[field1] SIP/2.0"
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="register">\n'
        + _send(_message(first, headers, "1 REGISTER", f"Expires: {expires}"))
        + '  <recv response="401" auth="true"/>\n'
        + _send(_message(first, headers, "2 REGISTER", f"[authentication]\nExpires: {expires}"))
        + f'  <recv response="{expect}"/>\n</scenario>\n'
    )


def call_scenario(
    dialled: str,
    expect: int = 200,
    display: str = '"Caller"',
    extra_headers: str = "",
    hold_ms: int = 200,
    authenticate: bool = True,
    in_dialog: tuple[str, str, int] | None = None,
    late_offer: bool = False,
    sdp: str = SDP,
) -> str:
    """An INVITE (answering the proxy challenge) expecting ``expect``; 200 → ACK, BYE.

    ``in_dialog``: (method, extra header lines, expected code) of a request sent inside the
    call between the ACK and the BYE. ``late_offer``: the INVITE has no SDP, the ACK answers
    the offer of the 200. ``sdp``: the offer (or that answer), plain PCMU unless given."""
    headers = HEADERS.format(from_=display, to=dialled)
    offer = "" if late_offer else sdp
    ack_body = (
        f"Content-Type: application/sdp\nContent-Length: [len]\n\n{sdp}\n"
        if late_offer
        else "Content-Length: 0\n\n"
    )
    first = f"INVITE sip:{dialled}@[field1] SIP/2.0"
    parts = ['<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="call">\n']
    cseq = 1
    if authenticate:
        parts.append(_send(_message(first, headers, "1 INVITE", extra_headers, offer)))
        parts.append('  <recv response="100" optional="true"/>\n')
        parts.append('  <recv response="407" auth="true"/>\n')
        parts.append(ACK_NON_2XX.format(to=dialled, cseq=1))
        cseq = 2
        extra = "[authentication]" + (f"\n{extra_headers}" if extra_headers else "")
    else:
        extra = extra_headers
    parts.append(_send(_message(first, headers, f"{cseq} INVITE", extra, offer)))
    parts.append('  <recv response="100" optional="true"/>\n')
    if expect == 200:
        parts.append('  <recv response="180" optional="true"/>\n')
        parts.append('  <recv response="183" optional="true"/>\n')
        parts.append('  <recv response="200" rrs="true"/>\n')
        parts.append(
            "  <send><![CDATA[\nACK [next_url] SIP/2.0\n"
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
            "[last_From:]\n[last_To:]\n[last_Call-ID:]\n[routes]\n"
            f"CSeq: {cseq} ACK\nMax-Forwards: 70\n{ack_body}  ]]></send>\n"
        )
        parts.append(f'  <pause milliseconds="{hold_ms}"/>\n')
        if in_dialog is not None:
            method, lines, answer = in_dialog
            cseq += 1
            parts.append(
                f'  <send retrans="500"><![CDATA[\n{method} [next_url] SIP/2.0\n'
                "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
                "[last_From:]\n[last_To:]\n[last_Call-ID:]\n[routes]\n"
                f"CSeq: {cseq} {method}\n{lines}\nMax-Forwards: 70\nContent-Length: 0\n\n"
                "  ]]></send>\n"
            )
            parts.append(f'  <recv response="{answer}"/>\n')
        parts.append(
            '  <send retrans="500"><![CDATA[\nBYE [next_url] SIP/2.0\n'
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
            "[last_From:]\n[last_To:]\n[last_Call-ID:]\n[routes]\n"
            f"CSeq: {cseq + 1} BYE\nMax-Forwards: 70\nContent-Length: 0\n\n  ]]></send>\n"
        )
        parts.append('  <recv response="200"/>\n')
    else:
        parts.append('  <recv response="180" optional="true"/>\n')
        parts.append('  <recv response="183" optional="true"/>\n')
        parts.append(f'  <recv response="{expect}"/>\n')
        parts.append(ACK_NON_2XX.format(to=dialled, cseq=cseq))
    parts.append("</scenario>\n")
    return "".join(parts)


def uas_scenario(
    answer: int | None = 200, ring_ms: int = 100, extra_headers: str = "", sdp: bool = False
) -> str:
    """A phone (or the carrier): receives an INVITE, rings, then answers ``answer``.

    ``answer=200``: waits for ACK and BYE. ``answer=None``: rings until CANCELled.
    Other codes: rejects and waits for the ACK. ``extra_headers`` go into every reply.
    ``sdp``: the 200 carries SDP (an answer, or the offer of a late-offer call).
    """
    extra = extra_headers.strip().replace("{", "{{").replace("}", "}}")
    reply = (
        "  <send><![CDATA[\nSIP/2.0 {code} {reason}\n[last_Via:]\n[last_From:]\n"
        "[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\n[last_CSeq:]\n"
        "[last_Record-Route:]\nContact: <sip:[local_ip]:[local_port];transport=[transport]>\n"
        + (f"{extra}\n" if extra else "")
        + "Content-Length: 0\n\n  ]]></send>\n"
    )
    parts = ['<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="uas">\n']
    parts.append(
        '  <recv request="INVITE" crlf="true" rrs="true"><action>'
        '<ereg regexp="CSeq: *([0-9]+)" search_in="msg" check_it="true" assign_to="whole,cseq"/>'
        "</action></recv>\n"
    )
    parts.append(reply.format(code=180, reason="Ringing"))
    parts.append(f'  <pause milliseconds="{ring_ms}"/>\n')
    if answer is None:
        parts.append('  <recv request="CANCEL"/>\n')
        parts.append(reply.format(code=200, reason="OK"))
        parts.append(
            reply.format(code=487, reason="Request Terminated").replace(
                "[last_CSeq:]", "CSeq: [$cseq] INVITE"
            )
        )
        parts.append('  <recv request="ACK"/>\n')
    elif answer == 200:
        ok = reply.format(code=200, reason="OK")
        if sdp:
            ok = ok.replace(
                "Content-Length: 0\n\n",
                f"Content-Type: application/sdp\nContent-Length: [len]\n\n{SDP}\n",
            )
        parts.append(ok)
        parts.append('  <recv request="ACK" optional="false"/>\n')
        parts.append('  <recv request="BYE"/>\n')
        parts.append(reply.format(code=200, reason="OK"))
    else:
        parts.append(reply.format(code=answer, reason="Rejected"))
        parts.append('  <recv request="ACK"/>\n')
    parts.append('  <Reference variables="whole,cseq"/>\n</scenario>\n')
    return "".join(parts)


@dataclass
class Trace:
    """The SIP messages one sipp run exchanged."""

    received: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    def requests(self, method: str) -> list[str]:
        return [m for m in self.received if m.startswith(f"{method} ")]

    def responses(self) -> list[int]:
        return [int(m.split()[1]) for m in self.received if m.startswith("SIP/2.0 ")]


def header(message: str, name: str) -> list[str]:
    pattern = re.compile(rf"^{re.escape(name)}\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
    return [value.strip() for value in pattern.findall(message)]


def parse_trace(path: Path) -> Trace:
    trace = Trace()
    if not path.exists():
        return trace
    blocks = re.split(r"^-{10,}.*$", path.read_text(errors="replace"), flags=re.MULTILINE)
    for block in blocks:
        match = re.search(
            r"message (received|sent) [\[(]\d+\]? ?bytes\)? ?:\s*\n\n?(.*)", block, re.DOTALL
        )
        if not match:
            continue
        message = match.group(2).strip().replace("\r\n", "\n")
        (trace.received if match.group(1) == "received" else trace.sent).append(message)
    return trace


def counts(output: str) -> tuple[int, int]:
    """(successful, failed) from sipp's final statistics screen."""

    def total(label: str) -> int:
        found = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", output)
        assert found, f"no {label!r} in sipp's output:\n{output[-2000:]}"
        return int(found[-1])

    return total("Successful call"), total("Failed call")


def udp_bound(port: int) -> bool:
    """Whether a UDP socket is bound to ``port`` (read from /proc: probing with a bind of our
    own could take the port from the process about to bind it)."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as rows:
            next(rows)
            if any(row.split()[1].endswith(wanted) for row in rows):
                return True
    return False


class Sipp:
    """One sipp process: ``run()`` waits for it, ``start()``/``wait()`` for UAS roles."""

    def __init__(
        self,
        scenario: str,
        server: tuple[str, int],
        *,
        local_ip: str = "127.0.0.1",
        local_port: int = 0,
        users: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
        calls: int = 1,
        timeout: int = 20,
        extra: list[str] = (),  # type: ignore[assignment]
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sipp-"))
        (self.dir / "scenario.xml").write_text(scenario)
        self.trace_file = self.dir / "messages.log"
        command = [
            "sipp", f"{server[0]}:{server[1]}",
            "-sf", str(self.dir / "scenario.xml"),
            "-i", local_ip, "-m", str(calls),
            "-trace_msg", "-message_file", str(self.trace_file),
            "-trace_err", "-error_file", str(self.dir / "errors.log"),
            "-timeout", str(timeout), "-timeout_error", "-nostdin",
            "-max_recv_loops", "1000", "-recv_timeout", "15000",
        ]  # fmt: skip
        self.local_port = local_port
        if local_port:
            command += ["-p", str(local_port)]
        if users:
            csv = self.dir / "users.csv"
            csv.write_text("SEQUENTIAL\n" + "".join(f"{u};{d};{p}\n" for u, d, p in users))
            command += ["-inf", str(csv), "-au", "[field0]", "-ap", "[field2]"]
        self.command = command + list(extra)
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Sipp:
        """Start sipp; with a local port, return once it listens there (a UAS must be bound
        before anything is sent to it)."""
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, cwd=self.dir,
        )  # fmt: skip
        if self.local_port:
            deadline = time.monotonic() + 10
            while not udp_bound(self.local_port):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    output = self.process.communicate()[0]
                    raise AssertionError(f"sipp did not listen on {self.local_port}: {output}")
                time.sleep(0.01)
        return self

    def wait(self, timeout: float = 30) -> tuple[int, Trace]:
        assert self.process is not None
        try:
            output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        self.output = output
        return self.process.returncode, parse_trace(self.trace_file)

    def run(self, timeout: float = 30) -> tuple[int, Trace]:
        return self.start().wait(timeout)

    def errors(self) -> str:
        path = self.dir / "errors.log"
        return path.read_text(errors="replace") if path.exists() else ""

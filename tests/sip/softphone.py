"""Softphones (baresip) that send a tone and record what they receive, for tests that prove
two-way audio by frequency: each side sends its own tone and must receive the other's (a
Goertzel filter over what it recorded), never just "some bytes arrived".

Where a softphone runs is the caller's choice: ``spawn`` starts its command (inside a network
namespace of the NAT lab, or on this host's loopback) and owns the process's cleanup."""

from __future__ import annotations

import time
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

from .audio import tone_seconds, write_tone
from .netlab import Process
from .test_baresip import module_dir

CALL_SECONDS = 6
TONES = {1: 440.0, 2: 1000.0, 3: 1700.0, "carrier": 2300.0}
MODULES = ("stdio", "g711", "aufile", "aubridge", "sndfile")

Spawn = Callable[[list[str], Path], Process]


class Softphone:
    """A baresip sending its tone (``aufile``) and recording what it decodes (``sndfile``).

    ``config``: more lines for baresip's config file (a CA file, say); ``modules``: more
    modules to load (``srtp``)."""

    def __init__(
        self,
        spawn: Spawn,
        home: Path,
        account: str,
        tone: float,
        listen: str,
        *,
        sip_port: int = 5060,
        rtp_ports: str = "40000-40100",
        modules: Sequence[str] = (),
        config: Sequence[str] = (),
    ) -> None:
        self.home = home
        self.recordings = home / "recordings"
        self.recordings.mkdir(parents=True)
        lines = [
            f"module_path {module_dir()}",
            f"sip_listen {listen}:{sip_port}",
            f"net_interface {listen}",
            "audio_player aubridge,speaker",
            f"audio_source aufile,{write_tone(home / 'tone.wav', tone)}",
            "audio_alert aubridge,ringer",
            f"rtp_ports {rtp_ports}",
            f"snd_path {self.recordings}",
            *config,
            *(f"module {module}.so" for module in (*MODULES, *modules)),
            "module_app account.so",
            "module_app contact.so",
            "module_app menu.so",
        ]
        (home / "config").write_text("\n".join(lines) + "\n")
        (home / "accounts").write_text(account + "\n")
        (home / "contacts").write_text("")
        self.process = spawn(["baresip", "-f", str(home)], home / "baresip.log")

    def dial(self, number: str) -> None:
        self.process.send(f"/dial {number}\n")

    def answer(self) -> None:
        """Picks up the ringing call (a phone without ``answermode=auto``)."""
        self.process.send("/accept\n")

    def hangup(self) -> None:
        self.process.send("/hangup\n")

    def received(self, timeout: float = 10) -> Path:
        """The recording of the last call, once baresip closed it: libsndfile writes the WAV
        header's sizes only at close, shortly after the call ended (baresip logs nothing
        then), so until the header reads the file is still being written."""
        found = sorted(self.recordings.glob("*-dec.wav"))
        assert found, f"no recording in {self.recordings}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with wave.open(str(found[-1])):
                    return found[-1]
            except (wave.Error, EOFError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def talk(caller: Softphone, callee: Softphone) -> None:
    """Wait until the call is up with media both ways, let it run, hang up at the caller."""
    callee.process.wait_for(r"Call established", timeout=15)  # after the ACK reached it
    caller.process.wait_for(r"Call established", timeout=5)
    for phone in (caller, callee):
        phone.process.wait_for(r"incoming rtp for 'audio' established", timeout=10)
    # baresip's status line counts the call's duration: hang up after CALL_SECONDS of it.
    caller.process.wait_for(rf"\[0:00:{CALL_SECONDS:02d}\]", timeout=CALL_SECONDS + 5)
    caller.hangup()
    callee.process.wait_for(r"terminated", timeout=10)  # the BYE reached it


def assert_two_way(first: Softphone, first_tone: float, second: Softphone, second_tone: float):
    others = tuple(TONES.values())
    heard = tone_seconds(second.received(), first_tone, tuple(t for t in others if t != first_tone))
    assert heard >= CALL_SECONDS / 2, f"{second.home.name} heard {heard}s of {first_tone} Hz"
    heard = tone_seconds(
        first.received(), second_tone, tuple(t for t in others if t != second_tone)
    )
    assert heard >= CALL_SECONDS / 2, f"{first.home.name} heard {heard}s of {second_tone} Hz"

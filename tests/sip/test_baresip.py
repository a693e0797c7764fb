"""Two real softphones (baresip) register with portal-generated credentials and talk."""

import math
import struct
import subprocess
import time
import wave
from pathlib import Path

import pytest

from cloudpbx.extensions.models import Extension
from cloudpbx.terminals.services import create_terminal

from .conftest import free_port_pair

MODULES = ("g711", "aufile")


def module_dir() -> str:
    found = next(Path("/usr/lib").glob("**/baresip/modules/menu.so"), None)
    assert found is not None, "baresip modules not found"
    return str(found.parent)


def tone(directory: Path) -> Path:
    """Five seconds of a 440 Hz tone at 8 kHz, the softphone's microphone."""
    path = directory / "tone.wav"
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
        for i in range(8000 * 5)
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples)
    return path


def softphone(tmp_path: Path, name: str, terminal, sip, auto_answer: bool) -> Path:
    home = tmp_path / name
    home.mkdir()
    port = free_port_pair()
    lines = [
        f"module_path {module_dir()}",
        f"sip_listen 127.0.0.1:{port}",
        "net_interface 127.0.0.1",
        "audio_player aufile,/dev/null",
        f"audio_source aufile,{tone(home)}",
        "audio_alert aufile,/dev/null",
        "rtp_ports 40000-40100",
        *(f"module {module}.so" for module in MODULES),
        "module_app account.so",
        "module_app contact.so",
        "module_app menu.so",
    ]
    (home / "config").write_text("\n".join(lines) + "\n")
    server = f"{sip.address[0]}:{sip.address[1]}"
    account = (
        f"<sip:{terminal.sip_username}@{sip.domain}>;auth_pass={terminal.sip_password}"
        f';outbound="sip:{server}";regint=300' + (";answermode=auto" if auto_answer else "")
    )
    (home / "accounts").write_text(account + "\n")
    (home / "contacts").write_text("")
    return home


def test_two_baresip_softphones_call_each_other(sip, tenant, tmp_path):
    eleven = Extension.objects.get(tenant=tenant, number="11")
    alice = create_terminal(
        tenant,
        name="Alice",
        type="app",
        generate_credentials=True,
        internal_extension=Extension.objects.get(tenant=tenant, number="10"),
    )
    bob = create_terminal(
        tenant, name="Bob", type="app", generate_credentials=True, ringing_extensions=[eleven]
    )
    bob_home = softphone(tmp_path, "bob", bob, sip, auto_answer=True)
    alice_home = softphone(tmp_path, "alice", alice, sip, auto_answer=False)

    bob_process = subprocess.Popen(
        ["baresip", "-f", str(bob_home), "-t", "15"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not sip.is_registered(bob):
        if time.monotonic() > deadline:
            bob_process.kill()
            pytest.fail("bob did not register:\n" + bob_process.communicate()[0][-3000:])
        time.sleep(0.2)
    alice_output = subprocess.run(
        ["baresip", "-f", str(alice_home), "-e", "/dial 11", "-t", "6"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False,
    ).stdout  # fmt: skip
    bob_process.terminate()
    bob_output = bob_process.communicate(timeout=10)[0]

    assert "Call established: sip:11@" in alice_output, alice_output[-3000:]
    # Bob sees Alice by her internal extension, and her audio arrives.
    assert "Call established: sip:10@127.0.0.1" in bob_output, bob_output[-3000:]
    assert "incoming rtp for 'audio' established" in bob_output, bob_output[-3000:]

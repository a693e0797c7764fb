"""``cloudpbx backup`` of a running PBX, ``cloudpbx restore`` into a new data dir and
database, and the restored PBX serving the same customers, phones and registrations."""

import json
import stat
import subprocess
import sys

import pytest

from cloudpbx import backup
from cloudpbx.provisioning.testing import fetch_config, phone_request, urllib_getter
from tests.sip.wire import Peer, code
from tests.test_cli import _get, run_environment, start_run, stop_run


def cloudpbx(env, *args, check=True):
    done = subprocess.run(
        [sys.executable, "-m", "cloudpbx", *args], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def snapshot(running, token):
    """What a restored PBX must serve again: the customer's data, every password and the
    registration."""
    portal, ca = running.portal, running.ca
    seen = {}
    for resource in ("terminals", "extensions", "numbers"):
        seen[resource] = _get(f"{portal}/api/v1/{resource}/", token, cafile=ca)[1]
    for terminal in seen["terminals"]["items"]:
        url = f"{portal}/api/v1/terminals/{terminal['id']}"
        seen[f"credentials {terminal['name']}"] = _get(f"{url}/credentials", token, cafile=ca)
        contacts = _get(f"{url}/status", token, cafile=ca)[1]["contacts"]
        assert all(contact.pop("expires") > 0 for contact in contacts)  # seconds left: moves on
        seen[f"status {terminal['name']}"] = contacts
    return seen


def yealink_file(running, token):
    """What the demo Yealink fetches (which the PBX then shows as its last fetch)."""
    portal, ca = running.portal, running.ca
    terminals = _get(f"{portal}/api/v1/terminals/", token, cafile=ca)[1]["items"]
    yealink = next(t for t in terminals if t["name"] == "Büro Yealink")
    url = f"{portal}/api/v1/terminals/{yealink['id']}/credentials"
    secrets = _get(url, token, cafile=ca)[1]
    return fetch_config(
        urllib_getter(portal, cafile=ca),
        phone_request("yealink", "T54W", yealink["provisioning"]["mac"]),
        secrets["provisioning"]["username"],
        secrets["provisioning"]["password"],
    )


def register(env, sip):
    phone = Peer(("127.0.0.1", int(env["CLOUDPBX_SIP_PORT"])))
    try:
        return code(phone.register(sip["username"], sip["password"]))
    finally:
        phone.close()


def test_a_running_pbx_is_backed_up_and_restored_into_a_new_data_dir(tmp_path):
    original, restored = tmp_path / "original", tmp_path / "restored"
    archive, passphrase = tmp_path / "pbx.backup", tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    running = start_run(original)
    try:
        token = json.loads((original / "demo.json").read_text())["api_token"]
        terminals = _get(f"{running.portal}/api/v1/terminals/", token, cafile=running.ca)[1]
        desk = next(t for t in terminals["items"] if t["name"] == "Empfang Telefon")
        url = f"{running.portal}/api/v1/terminals/{desk['id']}/credentials"
        desk_sip = _get(url, token, cafile=running.ca)[1]["sip"]
        assert register(running.env, desk_sip) == 200  # a second before the backup
        file_before = yealink_file(running, token)
        before = snapshot(running, token)
        assert before["status Empfang Telefon"], "the registration is not shown"
        done = cloudpbx(running.env, "backup", str(archive), "--passphrase-file", str(passphrase))
        assert "Backup written" in done.stdout
    finally:
        stop_run(running)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert archive.read_bytes().startswith(backup.ENCRYPTED)
    assert desk_sip["password"].encode() not in archive.read_bytes()

    env = run_environment(restored, like=running.env)
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    refused = cloudpbx(env, "restore", str(archive), "--passphrase-file", str(wrong), check=False)
    assert refused.returncode != 0 and "wrong passphrase" in refused.stderr
    done = cloudpbx(env, "restore", str(archive), "--passphrase-file", str(passphrase))
    assert "Restored the backup" in done.stdout
    again = cloudpbx(
        env, "restore", str(archive), "--passphrase-file", str(passphrase), check=False
    )
    assert again.returncode != 0 and "restore into an empty" in again.stderr

    running = start_run(restored, env)
    try:
        after = snapshot(running, token)
        file_after = yealink_file(running, token)
        assert register(env, desk_sip) == 200
    finally:
        stop_run(running)
    assert file_after == file_before  # byte-identical
    assert after == before


def test_a_backup_without_its_passphrase_is_refused(tmp_path):
    archive = tmp_path / "pbx.backup"
    archive.write_bytes(backup.ENCRYPTED + b"\0" * 64)
    with pytest.raises(backup.BackupError, match="encrypted: give its passphrase"):
        backup.read(archive)
    with pytest.raises(backup.BackupError, match="wrong passphrase"):
        backup.read(archive, b"guess")
    archive.write_bytes(b"something else")
    with pytest.raises(backup.BackupError, match="not a cloudpbx backup"):
        backup.read(archive)


@pytest.mark.parametrize(
    ("name", "written"),
    [("tls/ca.key", True), ("tls/../../secret_key", False), ("tls/a/b", False), ("/etc/x", False)],
)
def test_restore_writes_no_member_outside_the_tls_directory(name, written):
    assert bool(backup._TLS_MEMBER.match(name)) == written

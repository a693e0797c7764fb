"""The ``cloudpbx`` command: demo data, operator commands, and ``run`` serving the API."""

import dataclasses
import http.client
import io
import json
import os
import secrets
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from django.core.management import CommandError, call_command

from cloudpbx.accounts.models import ApiToken
from cloudpbx.core import certificates
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.provisioning.testing import (
    fetch_config,
    phone_request,
    read_account,
    urllib_getter,
)
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal
from tests.processes import free_port


def run_command(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_demo_is_idempotent_and_complete(db):
    first = json.loads(run_command("demo", "--json"))
    second = json.loads(run_command("demo", "--json"))
    assert first == second
    tenant = Tenant.objects.get(name=first["tenant"])
    assert PhoneNumber.objects.filter(tenant=tenant).count() == 10
    assert PhoneNumber.objects.get(tenant=tenant, is_main=True).e164 == "+493012345600"
    assert sorted(t["type"] for t in first["terminals"]) == [
        "app",
        "external",
        "ip_phone",
        "ip_phone",
    ]
    automatic = Terminal.objects.get(tenant=tenant, config_mode="automatic")
    assert automatic.device.manufacturer == "yealink"
    assert automatic.device.auth_mode == "credentials"
    assert all(t["sip"]["password"] for t in first["terminals"] if t["type"] != "external")
    assert ApiToken.objects.filter(tenant=tenant).count() == 1
    assert first["login"]["username"] == "demo"


def test_demo_text_output_names_login_token_and_terminals(db):
    text = run_command("demo")
    assert "Login:" in text and "API token:" in text
    assert text.count("Terminal:") == 4


def test_createtenant_and_addnumbers(db):
    assert "created tenant" in run_command("createtenant", "Beispiel AG", "--country", "DE")
    listed = run_command("addnumbers", "Beispiel AG", "0221 555000", "--count", "3", "--main")
    assert listed.split() == ["+49221555000", "+49221555001", "+49221555002"]
    tenant = Tenant.objects.get(name="Beispiel AG")
    assert tenant.language == "de" and tenant.timezone == "Europe/Berlin"
    assert PhoneNumber.objects.get(tenant=tenant, is_main=True).e164 == "+49221555000"
    with pytest.raises(CommandError):
        call_command("addnumbers", "Beispiel AG", "12345")
    with pytest.raises(CommandError):
        call_command("createtenant", "Beispiel AG")


def _get(url, token=None, cafile=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        return response.status, json.loads(response.read() or b"null")


def _plain(port, path, method="GET"):
    """A plain-HTTP request, redirects not followed: (status, Location)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Location")
    finally:
        connection.close()


def test_run_refuses_a_certificate_it_cannot_read_and_says_which(tmp_path):
    env = dict(
        os.environ,
        CLOUDPBX_DATA_DIR=str(tmp_path),
        CLOUDPBX_TLS_CERTIFICATE=str(tmp_path / "missing.pem"),
        CLOUDPBX_TLS_KEY=str(tmp_path / "missing.key"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "cloudpbx", "run"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert str(tmp_path / "missing.pem") in done.stderr, done.stderr


@dataclasses.dataclass
class Running:
    """A ``cloudpbx run`` of a test, its ports and the embedded CA that signed its certificate."""

    process: subprocess.Popen
    env: dict[str, str]
    port: int
    https_port: int
    ca: str

    @property
    def portal(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"


HEALTH_PARTS = ("database", "jobs", "kamailio", "rtpengine")


def run_environment(data_dir, like: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``cloudpbx run`` on a new database in ``data_dir``: on free ports,
    or on the ports of the environment ``like`` (a restored node that serves the same URLs)."""
    env = dict(os.environ, CLOUDPBX_DATA_DIR=str(data_dir))
    for name in RUN_PORTS:
        env[name] = like[name] if like else str(free_port())
    env.update(CLOUDPBX_HTTP_WORKERS="2", CLOUDPBX_SIP_CHILDREN="2")
    if "CLOUDPBX_DATABASE_URL" in env:
        # On the PostgreSQL run: a database of its own on the same server.
        import psycopg

        name = f"run_{secrets.token_hex(4)}"
        with psycopg.connect(env["CLOUDPBX_DATABASE_URL"], autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        env["CLOUDPBX_DATABASE_URL"] = env["CLOUDPBX_DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
    return env


RUN_PORTS = (
    "CLOUDPBX_HTTP_PORT", "CLOUDPBX_HTTPS_PORT", "CLOUDPBX_SIP_PORT", "CLOUDPBX_SIP_TLS_PORT",
    "CLOUDPBX_SIP_WSS_PORT", "CLOUDPBX_SIP_RPC_PORT",
)  # fmt: skip


def start_run(tmp_path, env: dict[str, str] | None = None) -> Running:
    """``cloudpbx run`` (on a new database unless ``env`` says otherwise), once both web ports
    answer and every part of the PBX is well."""
    env = env or run_environment(tmp_path)
    port, https_port = int(env["CLOUDPBX_HTTP_PORT"]), int(env["CLOUDPBX_HTTPS_PORT"])
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudpbx", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Running(process, env, port, https_port, str(tmp_path / "tls" / "ca.pem"))
    deadline = time.monotonic() + 60
    while True:
        try:
            # Every part well: the database, the job worker, Kamailio and rtpengine.
            well = {"status": "ok", "parts": dict.fromkeys(HEALTH_PARTS, "ok")}
            assert _get(f"{running.portal}/healthz", cafile=running.ca) == (200, well)
            assert _get(f"http://127.0.0.1:{port}/healthz") == (200, well)
            return running
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("cloudpbx run did not come up:\n" + process.communicate()[0][-3000:])
            time.sleep(0.3)


def stop_run(running: Running) -> str:
    running.process.send_signal(signal.SIGTERM)
    output, _ = running.process.communicate(timeout=30)
    assert running.process.returncode == 0, output
    return output


def test_run_serves_the_api_with_demo_data_and_stops_cleanly(tmp_path):
    """``cloudpbx run`` on a new database: migrates, creates the demo, serves HTTPS with the
    embedded CA and plain HTTP beside it, stops on SIGTERM."""
    tmp_path.chmod(0o755)  # as an older version or an operator may have left it
    running = start_run(tmp_path)
    env, port, https_port, portal, ca = (
        running.env, running.port, running.https_port, running.portal, running.ca
    )  # fmt: skip
    sip_port = env["CLOUDPBX_SIP_PORT"]
    try:
        checked = subprocess.run(
            [sys.executable, "-m", "cloudpbx", "check"], env=env, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert [line.split() for line in checked.stdout.splitlines()[-4:]] == [
            [part, "ok"] for part in HEALTH_PARTS
        ]
        demo = json.loads((Path(tmp_path) / "demo.json").read_text())
        status, body = _get(f"{portal}/api/v1/terminals/", demo["api_token"], cafile=ca)
        assert status == 200
        assert {t["name"] for t in body["items"]} == {
            "Empfang Telefon",
            "Büro Yealink",
            "Softphone",
            "Handy",
        }
        # The demo Yealink fetches its configuration as the phone would (Digest).
        yealink = next(t for t in body["items"] if t["name"] == "Büro Yealink")
        _, secrets = _get(
            f"{portal}/api/v1/terminals/{yealink['id']}/credentials", demo["api_token"], cafile=ca
        )
        # Over HTTPS (the certificate verified against the embedded CA), and over plain HTTP,
        # which embedded mode allows for /prov/ only.
        for getter in (urllib_getter(portal, cafile=ca), urllib_getter(f"http://127.0.0.1:{port}")):
            config_file = fetch_config(
                getter,
                phone_request("yealink", "T54W", yealink["provisioning"]["mac"]),
                secrets["provisioning"]["username"],
                secrets["provisioning"]["password"],
            )
            assert read_account("yealink", config_file).username == secrets["sip"]["username"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(f"{portal}/api/v1/terminals/", "cpbx_wrong_token", cafile=ca)
        assert refused.value.code == 401
        # Everything else on the plain port is sent to the HTTPS URL, methods kept.
        assert _plain(port, "/api/v1/terminals/?limit=1") == (
            301,
            f"{portal}/api/v1/terminals/?limit=1",
        )
        assert _plain(port, "/login/", "POST") == (308, f"{portal}/login/")
        assert _plain(port, "/prov/ca.pem")[0] == 200
        # TLS 1.2 is the oldest the web server speaks.
        old = ssl.create_default_context(cafile=ca)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", https_port)) as raw:
            with old.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.version() == "TLSv1.2"
    finally:
        output = stop_run(running)
    assert f"{portal}/" in output
    fingerprint = certificates.fingerprint((tmp_path / "tls" / "ca.pem").read_bytes())
    assert f"embedded CA {ca}" in output and fingerprint in output
    assert "Login:" in output and demo["password"] in output
    softphone = next(t for t in body["items"] if t["name"] == "Softphone")
    assert f"Softphone:      {portal}/pbx/terminals/{softphone['id']}/softphone/" in output
    # The demo data is written before Kamailio runs: nothing to flush, nothing to warn about.
    assert "could not flush the SIP directory cache" not in output
    assert (
        f"SIP registrar:  127.0.0.1 (udp/tcp {sip_port}, tls {env['CLOUDPBX_SIP_TLS_PORT']}"
        in output
    )
    assert "stopped" in output
    # The data dir (database, server key, TLS keys, usrloc) is its owner's only.
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    readable = [
        f"{path.relative_to(tmp_path)} {stat.S_IMODE(path.stat().st_mode):o}"
        for path in tmp_path.rglob("*")
        if path.stat().st_mode & 0o077 and "static" not in path.parts  # public files anyway
    ]
    assert not readable
    if "CLOUDPBX_DATABASE_URL" not in os.environ:
        assert (tmp_path / "cloudpbx.sqlite3").exists()
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/healthz")
    with pytest.raises(OSError):
        _get(f"{portal}/healthz", cafile=ca)


def served_serial(port: int, ca: str) -> int:
    """The serial number of the certificate a TLS port serves, verified against the CA."""
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def test_a_new_certificate_is_picked_up_without_restarting_kamailio(tmp_path):
    running = start_run(tmp_path)
    sip_tls = int(running.env["CLOUDPBX_SIP_TLS_PORT"])
    try:
        before = served_serial(running.https_port, running.ca)
        deadline = time.monotonic() + 30
        while True:  # Kamailio starts after the web servers
            try:
                assert served_serial(sip_tls, running.ca) == before
                break
            except OSError:
                assert time.monotonic() < deadline, "Kamailio's TLS port did not open"
                time.sleep(0.2)
        kamailio_pid = int((tmp_path / "kamailio" / "kamailio.pid").read_text())
        # As if the operator replaced it: the embedded CA issues a new one from the same CA.
        for name in ("server.pem", "server.key"):
            (tmp_path / "tls" / name).unlink()
        deadline = time.monotonic() + 30
        while True:
            try:
                web, sip = (
                    served_serial(running.https_port, running.ca),
                    served_serial(sip_tls, running.ca),
                )
            except OSError:
                web = sip = before  # the web server restarting
            if web != before and sip == web:
                break
            assert time.monotonic() < deadline, "the new certificate was not picked up"
            time.sleep(0.3)
        # Kamailio reloaded its TLS profile in place: registrations and calls stayed.
        reloaded_pid = int((tmp_path / "kamailio" / "kamailio.pid").read_text())
    finally:
        output = stop_run(running)
    assert reloaded_pid == kamailio_pid, output
    assert "TLS certificate changed: reloading" in output

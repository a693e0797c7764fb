"""The ``cloudpbx`` command: demo data, operator commands, and ``run`` serving the API."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cloudpbx.accounts.models import ApiToken
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.provisioning.testing import (
    fetch_config,
    phone_request,
    read_account,
    urllib_getter,
)
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal


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


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url, token=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read() or b"null")


def test_run_serves_the_api_with_demo_data_and_stops_cleanly(tmp_path):
    """``cloudpbx run`` on a new database: migrates, creates the demo, serves, stops on SIGTERM."""
    port, sip_port, rpc_port = _free_port(), _free_port(), _free_port()
    env = dict(
        os.environ,
        CLOUDPBX_DATA_DIR=str(tmp_path),
        CLOUDPBX_HTTP_PORT=str(port),
        CLOUDPBX_HTTP_WORKERS="2",
        CLOUDPBX_SIP_PORT=str(sip_port),
        CLOUDPBX_SIP_RPC_PORT=str(rpc_port),
        CLOUDPBX_SIP_CHILDREN="2",
    )
    if "CLOUDPBX_DATABASE_URL" in env:
        # On the PostgreSQL run: a database of its own on the same server.
        import psycopg

        name = f"run_{port}"
        with psycopg.connect(env["CLOUDPBX_DATABASE_URL"], autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        env["CLOUDPBX_DATABASE_URL"] = env["CLOUDPBX_DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
    server = subprocess.Popen(
        [sys.executable, "-m", "cloudpbx", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert _get(f"http://127.0.0.1:{port}/healthz") == (200, {"status": "ok"})
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "web server did not come up"
                time.sleep(0.3)
        demo = json.loads((Path(tmp_path) / "demo.json").read_text())
        status, body = _get(f"http://127.0.0.1:{port}/api/v1/terminals/", demo["api_token"])
        assert status == 200
        assert {t["name"] for t in body["items"]} == {
            "Empfang Telefon",
            "Büro Yealink",
            "Softphone",
            "Handy",
        }
        # The demo Yealink fetches its configuration as the phone would (Digest).
        yealink = next(t for t in body["items"] if t["name"] == "Büro Yealink")
        config_file = fetch_config(
            urllib_getter(f"http://127.0.0.1:{port}"),
            phone_request("yealink", "T54W", yealink["provisioning"]["mac"]),
            yealink["provisioning"]["acs_username"],
            yealink["provisioning"]["acs_password"],
        )
        assert read_account("yealink", config_file).username == yealink["sip"]["username"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(f"http://127.0.0.1:{port}/api/v1/terminals/", "cpbx_wrong_token")
        assert refused.value.code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output
    assert "Login:" in output and demo["password"] in output
    assert f"SIP registrar:  127.0.0.1:{sip_port}" in output
    assert "stopped" in output
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/healthz")

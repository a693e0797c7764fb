"""App terminals end to end: the QR code holds exactly the link, and a real Linphone
(Debian's linphonec) configures itself from the link and registers; the link then dies."""

import dataclasses
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from cloudpbx.provisioning.models import AppLink
from cloudpbx.sip import status
from cloudpbx.terminals.services import create_terminal
from cloudpbx.testing import api_client

from ..processes import web_servers
from .conftest import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def decode_qr(svg: str, tmp_path) -> str:
    """What a phone camera reads: the SVG rendered by Chromium, decoded by zbarimg."""
    from playwright.sync_api import sync_playwright

    picture = tmp_path / "qr.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.set_content(f'<body style="margin:40px;background:#fff">{svg}</body>')
        page.locator("svg").screenshot(path=str(picture))
        browser.close()
    decoded = subprocess.run(
        ["zbarimg", "--raw", "-q", str(picture)], capture_output=True, text=True, check=True
    )
    return decoded.stdout.strip()


def linphone_registers(sip, terminal, tmp_path, rc_text: str):
    """Start linphonec with an rc file (it fetches the ``config-uri`` in it), wait until the
    terminal is registered, stop it. Returns the rc file (where Linphone keeps what it
    fetched) and the registration as it was while Linphone ran."""
    home = tmp_path / "home"
    (home / ".local" / "share" / "linphone").mkdir(parents=True)
    rc = tmp_path / "linphonerc"
    rc.write_text(rc_text)
    linphone = subprocess.Popen(
        ["script", "-qfc", f"linphonec -c {rc} -d 6 -l {tmp_path / 'linphone.log'}",
         str(tmp_path / "typescript")],
        env={**os.environ, "HOME": str(home)}, stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not sip.is_registered(terminal):
            assert linphone.poll() is None, "linphonec exited"
            if time.monotonic() > deadline:
                log = (tmp_path / "linphone.log").read_text(errors="replace")[-4000:]
                pytest.fail(f"Linphone did not register:\n{log}")
            time.sleep(0.5)
        registration = status.registrations([terminal.sip_username])[terminal.sip_username]
    finally:
        os.killpg(linphone.pid, signal.SIGTERM)
        linphone.wait(timeout=10)
    return rc, registration


def test_linphone_sets_itself_up_from_the_qr_link_and_registers(
    sip, tenant, live_server, settings, tmp_path
):
    settings.CLOUDPBX_PUBLIC_URL = live_server.url
    settings.CLOUDPBX_SIP_DOMAIN = sip.domain
    settings.CLOUDPBX_SIP_PORT = sip.address[1]
    terminal = create_terminal(tenant, name="Phone app", type="app", generate_credentials=True)
    issued = api_client(tenant).post(f"/api/v1/terminals/{terminal.pk}/app-link").json_body
    link = issued["url"]
    assert decode_qr(issued["qr_svg"], tmp_path) == link

    linphone_registers(
        sip, terminal, tmp_path, f"[misc]\nconfig-uri={link}\n[sip]\nsip_port=-1\nsip_tcp_port=0\n"
        "sip_tls_port=0\n",
    )  # fmt: skip

    used = AppLink.objects.get(terminal=terminal)
    assert used.used_at is not None and used.used_ip == "127.0.0.1"
    with pytest.raises(urllib.error.HTTPError) as again:
        urllib.request.urlopen(link, timeout=5)
    assert again.value.code == 404


@pytest.fixture
def https_portal(sip, settings):
    """The portal over HTTPS as ``cloudpbx run`` serves it (granian, the embedded CA's
    certificate, the Kamailio under test's CA), on the test database, telling apps to use
    SIP over TLS."""
    config = dataclasses.replace(
        sip.config,
        http_port=free_port(socket.SOCK_STREAM),
        https_port=free_port(socket.SOCK_STREAM),
        http_workers=1,
        sip_transport="tls",
    )
    config = dataclasses.replace(config, public_web_url=f"https://127.0.0.1:{config.https_port}")
    with web_servers(config) as server:
        settings.CLOUDPBX_PUBLIC_URL = config.public_web_url
        settings.CLOUDPBX_SIP_TRANSPORT = "tls"
        settings.CLOUDPBX_SIP_PORT = config.sip_tls_port
        yield server


def test_linphone_sets_itself_up_over_https_and_registers_over_tls_with_srtp(
    sip, tenant, https_portal, tmp_path
):
    terminal = create_terminal(
        tenant, name="Secure app", type="app", generate_credentials=True,
        media_encryption="required",
    )  # fmt: skip
    link = api_client(tenant).post(f"/api/v1/terminals/{terminal.pk}/app-link").json_body["url"]
    assert link.startswith("https://")

    # The embedded CA is given to the app by hand (lpconfig cannot carry it): it verifies
    # both the HTTPS download and the SIP server's certificate with it.
    rc, registration = linphone_registers(
        sip, terminal, tmp_path,
        f"[misc]\nconfig-uri={link}\n"
        f"[sip]\nsip_port=0\nsip_tcp_port=0\nsip_tls_port=-1\nroot_ca={https_portal.ca}\n"
        "verify_server_certs=1\nverify_server_cn=1\n",
    )  # fmt: skip
    assert [contact.transport for contact in registration.contacts] == ["tls"]
    # The app took the SRTP setting from the link (Linphone keeps it in its own rc file).
    kept = rc.read_text()
    assert "media_encryption=srtp" in kept and "media_encryption_mandatory=1" in kept, kept

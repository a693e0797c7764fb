"""App terminals end to end: the QR code holds exactly the link, and a real Linphone
(Debian's linphonec) configures itself from the link and registers; the link then dies."""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from cloudpbx.core.testing import api_client
from cloudpbx.provisioning.models import AppLink
from cloudpbx.terminals.services import create_terminal

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

    home = tmp_path / "home"
    (home / ".local" / "share" / "linphone").mkdir(parents=True)
    rc = tmp_path / "linphonerc"
    rc.write_text(
        f"[misc]\nconfig-uri={link}\n[sip]\nsip_port=-1\nsip_tcp_port=0\nsip_tls_port=0\n"
    )
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
                log = (tmp_path / "linphone.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"Linphone did not register:\n{log}")
            time.sleep(0.5)
    finally:
        os.killpg(linphone.pid, signal.SIGTERM)
        linphone.wait(timeout=10)

    used = AppLink.objects.get(terminal=terminal)
    assert used.used_at is not None and used.used_ip == "127.0.0.1"
    with pytest.raises(urllib.error.HTTPError) as again:
        urllib.request.urlopen(link, timeout=5)
    assert again.value.code == 404

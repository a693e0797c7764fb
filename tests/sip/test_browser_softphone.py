"""The portal's browser softphone, end to end: headless Chromium pages (fake microphone playing a
known tone) log in, open an app terminal's softphone, and call each other and baresip desk
phones through the real Kamailio and rtpengine. Audio is proven by frequency on both sides: the
page's WebRTC counters and an analyser on what it plays, baresip's recording."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudpbx.terminals.services import create_terminal

from ..e2e.conftest import CHROMIUM, LAUNCH_ARGS, PASSWORD, screenshot
from .audio import tone_seconds, write_tone
from .capture import capture, rtp_stream
from .conftest import free_port, free_port_pair, own_server
from .softphone import TONES, Softphone
from .test_calls import ext
from .test_calls import phone as ip_phone

BROWSER_TONES = {"anna": 440.0, "ben": 1000.0}
DESK_TONE = TONES[3]
ALL_TONES = (*BROWSER_TONES.values(), DESK_TONE, TONES[2])
DESK_RTP = range(41000, 41020)
CALLER_RTP = range(41100, 41120)
CALLER_TONE = TONES[2]


@pytest.fixture(scope="module")
def webrtc_server(sip_server, live_server, django_db_blocker) -> Iterator[Any]:
    """A Kamailio whose portal is the live server: the Origin its pages send, the host the
    softphone connects to."""
    with (
        django_db_blocker.unblock(),
        own_server(sip_server, "webrtc", public_web_url=live_server.url) as server,
    ):
        yield server


@pytest.fixture
def pbx(webrtc_server, transactional_db, settings):
    settings.CONFIG = webrtc_server.config
    settings.CLOUDPBX_KAMAILIO_RPC_URLS = [webrtc_server.rpc_url]
    return webrtc_server


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # see tests/e2e/conftest.py
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def with_microphone(tone_file: Path) -> list[str]:
    """Chromium's arguments for a fake microphone playing ``tone_file``, granted without a
    prompt, and remote audio that plays without a click."""
    return [
        *LAUNCH_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={tone_file}",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture(scope="module")
def browsers(playwright_instance, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """One Chromium per person, its fake microphone playing that person's tone."""
    launched = {}
    for name, tone in BROWSER_TONES.items():
        tone_file = write_tone(tmp_path_factory.mktemp(name) / "tone.wav", tone, seconds=60)
        launched[name] = playwright_instance.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=with_microphone(tone_file)
        )
    yield launched
    for browser in launched.values():
        browser.close()


@dataclasses.dataclass
class Softphone_Page:
    page: Any
    errors: list[str]

    def state(self) -> str:
        return str(self.page.locator("#softphone").get_attribute("data-state"))

    def wait_for_state(self, state: str, timeout: float = 15_000) -> None:
        self.page.wait_for_selector(f'#softphone[data-state="{state}"]', timeout=timeout)

    def dial(self, number: str) -> None:
        self.page.fill("#softphone-number", number)
        self.page.click("#softphone-call-button")

    def wait_for_audio(self, packets: int = 100) -> None:
        """Until WebRTC counted ``packets`` audio packets received, with sound in them."""
        self.page.wait_for_function(
            """(packets) => {
                const line = document.getElementById("softphone-audio-state");
                return Number(line.dataset.packets) >= packets && Number(line.dataset.bytes) > 0
                    && Number(line.dataset.level) > 0;
            }""",
            arg=packets,
            timeout=20_000,
        )

    def heard_frequency(self) -> float:
        """The loudest frequency of what the page plays (its remote audio), over one second."""
        return float(
            self.page.evaluate(
                """async () => {
                    const stream = document.getElementById("softphone-remote").srcObject;
                    const context = new AudioContext();
                    const analyser = context.createAnalyser();
                    analyser.fftSize = 8192;
                    context.createMediaStreamSource(stream).connect(analyser);
                    const bins = new Float32Array(analyser.frequencyBinCount);
                    const totals = new Float32Array(analyser.frequencyBinCount);
                    for (let i = 0; i < 10; i++) {
                        await new Promise((done) => setTimeout(done, 100));
                        analyser.getFloatFrequencyData(bins);
                        bins.forEach((value, index) => { totals[index] += value; });
                    }
                    let best = 1;
                    for (let i = 1; i < totals.length; i++) if (totals[i] > totals[best]) best = i;
                    const hertz = best * context.sampleRate / analyser.fftSize;
                    await context.close();
                    return hertz;
                }"""
            )
        )


def open_softphone(browser, portal: str, user, terminal) -> Softphone_Page:
    context = browser.new_context(
        base_url=portal, locale="en-GB", viewport={"width": 1100, "height": 900},
        ignore_https_errors=True,  # the WebSocket's certificate is the test run's own CA
    )  # fmt: skip
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/pbx/")
    page.goto(f"/pbx/terminals/{terminal.pk}/")
    page.get_by_role("link", name="Use in this browser").click()
    softphone = Softphone_Page(page, errors)
    softphone.wait_for_state("ready")
    return softphone


def person(tenant, name: str) -> Any:
    from cloudpbx.testing import make_user

    user = make_user(tenant, first_name=name.title())
    user.set_password(PASSWORD)
    user.save()
    return user


def app(tenant, name: str, extension: str) -> Any:
    from cloudpbx.extensions.services import create_extension

    create_extension(tenant, number=extension, name=f"{name} ext")
    return create_terminal(
        tenant, name=name, type="app", generate_credentials=True,
        internal_extension=ext(tenant, extension), ringing_extensions=[ext(tenant, extension)],
    )  # fmt: skip


def browser_terminal_user(softphone: Softphone_Page) -> str:
    uri = softphone.page.evaluate(
        "JSON.parse(document.getElementById('softphone-config').textContent).uri"
    )
    return str(uri).removeprefix("sip:").split("@", 1)[0] + "~"


def anna_softphone(browsers, live_server, tenant) -> Softphone_Page:
    """Anna logged in, her app terminal (extension 31) open as a softphone."""
    terminal = app(tenant, "Anna browser", "31")
    return open_softphone(browsers["anna"], live_server.url, person(tenant, "anna"), terminal)


def connected(softphone: Softphone_Page, phone: Softphone, tone: float) -> None:
    """The call is up: the phone says so, and the page counts audio and hears its tone."""
    softphone.wait_for_state("in-call")
    phone.process.wait_for(r"Call established", timeout=15)
    softphone.wait_for_audio()
    assert_hears(softphone, tone)


def close(*pages: Softphone_Page) -> None:
    for softphone in pages:
        softphone.page.context.close()
        assert softphone.errors == [], softphone.errors


def assert_hears(softphone: Softphone_Page, tone: float) -> None:
    heard = softphone.heard_frequency()
    # FFT bins are ~6 Hz wide at 48 kHz; codecs shift nothing audible.
    assert abs(heard - tone) < 20, f"heard {heard:.0f} Hz, expected {tone:.0f} Hz"


def test_two_browsers_call_each_other_with_audio_both_ways(pbx, browsers, live_server, tenant):
    anna = anna_softphone(browsers, live_server, tenant)
    ben = open_softphone(
        browsers["ben"], live_server.url, person(tenant, "ben"), app(tenant, "Ben browser", "32")
    )
    screenshot(anna.page, "softphone-idle")
    anna.dial("32")
    ben.wait_for_state("incoming")
    assert "Anna browser" in ben.page.inner_text("#softphone-caller")
    screenshot(ben.page, "softphone-ringing")
    ben.page.click("#softphone-answer")
    for softphone in (anna, ben):
        softphone.wait_for_state("in-call")
        softphone.wait_for_audio()
    screenshot(anna.page, "softphone-in-call")
    assert_hears(anna, BROWSER_TONES["ben"])
    assert_hears(ben, BROWSER_TONES["anna"])
    # The page renews its credential before it expires: its CSP lets it, and a new one comes.
    renewed = anna.page.evaluate(
        "async () => { const config = JSON.parse("
        "document.getElementById('softphone-config').textContent);"
        "const response = await fetch(config.credentialUrl);"
        "return [response.status, (await response.json()).username]; }"
    )
    assert renewed[0] == 200 and renewed[1].startswith(browser_terminal_user(anna))
    anna.page.click("#softphone-hangup")
    ben.wait_for_state("ready")
    anna.wait_for_state("ready")
    assert pbx.media_sessions() == []
    close(anna, ben)


def desk_phone(
    spawn, pbx, terminal, home: Path, *, tone: float = DESK_TONE, rtp: range = DESK_RTP,
    answer: bool = True,
) -> Softphone:  # fmt: skip
    """A baresip desk phone on loopback, registered over UDP, answering at once (or ringing
    until it is told to answer)."""
    account = (
        f"<sip:{terminal.sip_username}@127.0.0.1>;auth_pass={terminal.sip_password}"
        f';outbound="sip:127.0.0.1:{pbx.config.sip_port}";regint=600'
        + (";answermode=auto" if answer else "")
    )
    phone = Softphone(
        spawn, home, account, tone, "127.0.0.1",
        sip_port=free_port_pair(), rtp_ports=f"{rtp.start}-{rtp.stop - 1}",
    )  # fmt: skip
    phone.process.wait_for(r"200 OK", timeout=15)
    return phone


def test_a_browser_calls_a_desk_phone_and_sends_dtmf(
    pbx, browsers, live_server, tenant, tmp_path, spawn
):
    anna = anna_softphone(browsers, live_server, tenant)
    desk = desk_phone(spawn, pbx, ip_phone(tenant, "Desk", rings=["11"]), tmp_path / "desk")
    try:
        anna.dial("11")  # the desk phone answers by itself
        connected(anna, desk, DESK_TONE)
        with capture() as wire:
            anna.page.click('#softphone-keypad [data-key="5"]')
            desk.process.wait_for(r"\[0:00:06\]", timeout=15)
        # RFC 4733 events reach the desk phone through the relay: event 5, end bit at last.
        events = [
            rtp.payload for rtp in rtp_stream(wire.between(range(0, 65536), DESK_RTP))
            if rtp.payload_type not in (0, 8) and len(rtp.payload) == 4
        ]  # fmt: skip
        assert events and {event[0] for event in events} == {5}, events
        assert events[-1][1] & 0x80, "no end of the DTMF event"
        anna.page.click("#softphone-hangup")
        desk.process.wait_for(r"terminated", timeout=10)
        assert tone_of(desk) >= 3, "the desk phone did not hear the browser's tone"
        anna.wait_for_state("ready")
    finally:
        close(anna)


def test_a_desk_phone_calls_a_browser(pbx, browsers, live_server, tenant, tmp_path, spawn):
    anna = anna_softphone(browsers, live_server, tenant)
    desk = desk_phone(spawn, pbx, ip_phone(tenant, "Desk", rings=["11"]), tmp_path / "desk")
    try:
        desk.dial("31")
        anna.wait_for_state("incoming")
        assert "Desk" in anna.page.inner_text("#softphone-caller")
        anna.page.click("#softphone-answer")
        connected(anna, desk, DESK_TONE)
        desk.process.wait_for(r"\[0:00:06\]", timeout=15)
        desk.hangup()
        anna.wait_for_state("ready")
        assert tone_of(desk) >= 3, "the desk phone did not hear the browser's tone"
    finally:
        close(anna)


def test_in_a_call_group_a_browser_answers_and_the_desk_phone_stops_ringing(
    pbx, browsers, live_server, tenant, tmp_path, spawn
):
    """Group 20 rings Anna's browser and a desk phone: each branch gets its own media
    session (WebRTC toward the browser, RTP toward the desk). A third phone calls; Anna
    answers in the browser; the desk phone is cancelled; the caller and Anna hear each other."""
    browser_app = app(tenant, "Anna browser", "31")
    browser_app.ringing_extensions.add(ext(tenant, "20"))
    anna = open_softphone(browsers["anna"], live_server.url, person(tenant, "anna"), browser_app)
    desk = desk_phone(
        spawn, pbx, ip_phone(tenant, "Desk", rings=["20"]), tmp_path / "desk", answer=False
    )
    caller = desk_phone(
        spawn, pbx, ip_phone(tenant, "Caller"), tmp_path / "caller", tone=CALLER_TONE,
        rtp=CALLER_RTP,
    )  # fmt: skip
    try:
        caller.dial("20")
        anna.wait_for_state("incoming")
        desk.process.wait_for(r"Incoming call from", timeout=10)
        anna.page.click("#softphone-answer")
        anna.wait_for_state("in-call")
        # Cancelled, another branch answered (baresip says "session closed" for a CANCEL).
        desk.process.wait_for(r"session closed|terminated", timeout=10)
        connected(anna, caller, CALLER_TONE)
        caller.process.wait_for(r"\[0:00:06\]", timeout=15)
        caller.hangup()
        anna.wait_for_state("ready")
        assert tone_of(caller) >= 3, "the caller did not hear the browser's tone"
    finally:
        close(anna)


def tone_of(desk: Softphone) -> float:
    """Seconds of Anna's tone in what the desk phone recorded. The browser's noise suppression
    takes a steady tone for noise and lowers it by ~20 dB within two seconds (measured): the
    floor for silence is lowered to match."""
    others = tuple(t for t in ALL_TONES if t != BROWSER_TONES["anna"])
    return tone_seconds(desk.received(), BROWSER_TONES["anna"], others, quietest=250)


def test_a_browser_behind_nat_calls_a_phone_behind_another_nat(
    browsers, playwright_instance, live_server, tenant, tmp_path, settings
):
    """Anna's browser in office 1 and a baresip desk phone in office 2, each behind its own
    NAT router on the same private range, the PBX (and the portal) on a public address: ICE
    and DTLS-SRTP on the browser's leg through its NAT, RTP on the phone's, audio both ways."""
    from . import netlab
    from .labpbx import LabPbx, office_phone, terminal

    port = int(live_server.url.rsplit(":", 1)[1])
    portal = f"http://{netlab.PBX_IP}:{port}"
    with netlab.lab(offices=2) as lab:
        pbx = LabPbx(lab, tmp_path / "pbx", sip_wss_port=7443, public_web_url=portal)
        lab.inet.forward_tcp(port, lab.stop, host=netlab.PBX_IP)  # the portal, on the PBX
        settings.CONFIG = pbx.config
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, netlab.PBX_IP]
        # The lab's portal is plain HTTP on a public address: cookies without "Secure".
        settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
        anna_app = app(tenant, "Anna browser", "31")
        desk = terminal(tenant, "Desk", rings=["11"])
        user = person(tenant, "anna")
        pbx.start()
        try:
            wrapper = tmp_path / "chromium-in-office-1"
            wrapper.write_text(
                f'#!/bin/sh\nexec ip netns exec {lab.office(1).name} {CHROMIUM} "$@"\n'
            )
            wrapper.chmod(0o755)
            tone_file = write_tone(tmp_path / "anna.wav", BROWSER_TONES["anna"], seconds=60)
            office_browser = playwright_instance.chromium.launch(
                executable_path=str(wrapper),
                headless=True,
                args=[
                    *with_microphone(tone_file),
                    # A page on plain HTTP may use the microphone only as a secure context.
                    f"--unsafely-treat-insecure-origin-as-secure={portal}",
                ],
            )
            desk_phone = office_phone(lab, 2, desk, tmp_path)  # answers by itself
            anna = open_softphone(office_browser, portal, user, anna_app)
            anna.dial("11")
            connected(anna, desk_phone, TONES[2])
            desk_phone.process.wait_for(r"\[0:00:06\]", timeout=15)
            anna.page.click("#softphone-hangup")
            desk_phone.process.wait_for(r"terminated|session closed", timeout=10)
            assert tone_of(desk_phone) >= 3, "the desk phone did not hear the browser's tone"
            close(anna)
            office_browser.close()
        finally:
            pbx.stop()


def test_a_browser_calls_the_carrier_over_plain_rtp(
    pbx, browsers, live_server, tenant, tmp_path, spawn
):
    """Through the trunk the relay speaks plain RTP (what carriers do), the browser DTLS-SRTP."""
    from cloudpbx.trunks.models import Trunk
    from cloudpbx.trunks.services import save_trunk

    carrier_ip = "127.0.0.9"
    trunk = save_trunk(
        Trunk(
            name="Carrier", gateway=carrier_ip, port=free_port(), transport="udp",
            source_networks=[f"{carrier_ip}/32"], is_default=True,
        )
    )  # fmt: skip
    carrier = Softphone(
        spawn, tmp_path / "carrier", f"<sip:+49301234567@{carrier_ip}>;regint=0;answermode=auto",
        TONES["carrier"], carrier_ip, sip_port=trunk.port, rtp_ports="41200-41219",
    )  # fmt: skip
    carrier.process.wait_for("baresip is ready", timeout=10)
    anna = anna_softphone(browsers, live_server, tenant)
    try:
        with capture() as wire:
            anna.dial("0301234567")
            connected(anna, carrier, TONES["carrier"])
            carrier.process.wait_for(r"\[0:00:06\]", timeout=15)
            anna.page.click("#softphone-hangup")
            carrier.process.wait_for(r"terminated|session closed", timeout=10)
        (invite,) = [
            d.payload.decode(errors="replace")
            for d in wire.between([pbx.config.sip_port], [trunk.port])
            if d.payload.startswith(b"INVITE ")
        ]
        # Toward the carrier: plain RTP, no ICE, no DTLS fingerprint, RTCP on its own port.
        assert re.search(r"^m=audio \d+ RTP/AVP ", invite, re.MULTILINE), invite
        for webrtc in ("a=candidate", "a=fingerprint", "a=crypto", "a=rtcp-mux", "a=ice-"):
            assert webrtc not in invite, webrtc
        others = tuple(t for t in (*ALL_TONES, TONES["carrier"]) if t != BROWSER_TONES["anna"])
        heard = tone_seconds(carrier.received(), BROWSER_TONES["anna"], others, quietest=250)
        assert heard >= 3, f"the carrier heard {heard}s of the browser's tone"
    finally:
        close(anna)


def test_with_cloudpbx_run_the_demo_user_calls_the_demo_desk_phone_from_the_browser(
    browsers, tmp_path, spawn
):
    """What a newcomer does after ``./cloudpbx.sh run``: the portal over HTTPS (the embedded
    CA), log in with the demo login, open the demo app's softphone, call extension 10 (the
    demo desk phone "Empfang Telefon", here a baresip with its credentials from the API)."""
    import json

    from ..test_cli import _get, start_run, stop_run

    data = tmp_path / "run"
    data.mkdir()
    running = start_run(data)
    try:
        demo = json.loads((data / "demo.json").read_text())
        token, portal = demo["api_token"], running.portal
        _, listed = _get(f"{portal}/api/v1/terminals/", token, cafile=running.ca)
        desk = next(t for t in listed["items"] if t["name"] == "Empfang Telefon")
        _, secrets = _get(
            f"{portal}/api/v1/terminals/{desk['id']}/credentials", token, cafile=running.ca
        )
        sip_port = running.env["CLOUDPBX_SIP_PORT"]
        account = (
            f"<sip:{secrets['sip']['username']}@127.0.0.1>;auth_pass={secrets['sip']['password']}"
            f';outbound="sip:127.0.0.1:{sip_port}";regint=600;answermode=auto'
        )
        desk_phone = Softphone(
            spawn, tmp_path / "desk", account, DESK_TONE, "127.0.0.1",
            sip_port=free_port_pair(), rtp_ports=f"{DESK_RTP.start}-{DESK_RTP.stop - 1}",
        )  # fmt: skip
        desk_phone.process.wait_for(r"200 OK", timeout=15)

        context = browsers["anna"].new_context(base_url=portal, ignore_https_errors=True)
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/login/")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill(demo["password"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/pbx/")
        page.goto("/pbx/terminals/?type=app")
        page.get_by_role("link", name="Softphone").first.click()
        page.get_by_role("link", name="Use in this browser").click()
        softphone = Softphone_Page(page, errors)
        softphone.wait_for_state("ready")
        softphone.dial("10")
        connected(softphone, desk_phone, DESK_TONE)
        page.click("#softphone-hangup")
        softphone.wait_for_state("ready")
        close(softphone)
    finally:
        stop_run(running)

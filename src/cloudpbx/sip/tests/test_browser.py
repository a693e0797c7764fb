"""The browser softphone's credential and the WebSocket handshake rule (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from cloudpbx.sip import browser, edge

KEY = browser.key("server key")
NOW = 1_800_000_000.0


def test_a_credential_names_its_terminal_until_it_expires() -> None:
    given = browser.issue(KEY, "app123", "ha1", NOW)
    assert given.username == f"app123~{int(NOW) + browser.LIFETIME_SECONDS}"
    assert browser.account_of(given.username, NOW) == "app123"
    assert browser.account_of(given.username, given.expires - 1) == "app123"
    assert browser.account_of(given.username, given.expires) is None


@pytest.mark.parametrize(
    "username",
    ["app123", "~1800000100", "app123~", "app123~soon", "app123~-5", f"app123~{int(NOW) + 86400}"],
)
def test_anything_else_is_not_a_browser_credential(username: str) -> None:
    assert browser.account_of(username, NOW) is None


def test_the_password_depends_on_the_key_the_username_and_the_terminals_ha1() -> None:
    given = browser.issue(KEY, "app123", "ha1", NOW)
    assert given.password == browser.password(KEY, given.username, "ha1")
    assert len(given.password) == 24
    others = {
        browser.password(browser.key("other key"), given.username, "ha1"),
        browser.password(KEY, given.username + "0", "ha1"),
        browser.password(KEY, given.username, "new ha1"),  # a new SIP password ends it
    }
    assert given.password not in others


def test_the_ha1_is_the_digest_of_the_derived_password() -> None:
    from cloudpbx.core.credentials import ha1_md5

    given = browser.issue(KEY, "app123", "ha1", NOW)
    expected = ha1_md5(given.username, "pbx.example", given.password)
    assert browser.ha1(KEY, given.username, "pbx.example", "ha1") == expected


PORTAL = "https://pbx.example:8443"


def handshake(**changes: Any) -> str | None:
    values: dict[str, Any] = {
        "path": "/sip", "upgrade": "websocket", "origin": PORTAL, "portal_origin": PORTAL,
        "banned": False,
    }  # fmt: skip
    values.update(changes)
    return edge.websocket_refusal(**values)


def test_a_page_of_the_portal_opens_a_websocket() -> None:
    assert handshake() is None
    assert handshake(origin="HTTPS://PBX.EXAMPLE:8443", upgrade="WebSocket") is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"origin": "https://evil.example"}, "origin"),
        ({"origin": ""}, "origin"),
        ({"origin": "null"}, "origin"),
        ({"origin": "https://pbx.example"}, "origin"),  # another port is another origin
        ({"origin": "http://pbx.example:8443"}, "origin"),
        ({"path": "/RPC"}, "not-sip-websocket"),
        ({"upgrade": ""}, "not-sip-websocket"),
        ({"banned": True}, "banned"),
    ],
)
def test_everything_else_is_refused(changes: dict[str, Any], reason: str) -> None:
    assert handshake(**changes) == reason

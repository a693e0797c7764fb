"""What each vendor's file tells its phones, checked against what the phones do: re-sync
without reboot, the URL of the next fetch, periodic re-fetch, the values the vendor accepts,
the shape of its format and the User-Agents its phones send."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from cloudpbx.provisioning import resync
from cloudpbx.provisioning.tests.test_engine import config, render_phone
from cloudpbx.provisioning.vendors import VENDORS
from cloudpbx.provisioning.vendors.yealink import parse_settings
from cloudpbx.sip.status import Contact

# --- re-sync after a saved change ------------------------------------------------------------


def test_yealink_re_fetches_on_check_sync_without_rebooting() -> None:
    settings = parse_settings(render_phone(config("yealink", "T54W", "805ec0123456")))
    assert settings["sip.notify_reboot_enable"] == "0"
    assert VENDORS["yealink"].check_sync_event == "check-sync;reboot=false"
    device: Any = SimpleNamespace(manufacturer="yealink")
    contact = Contact(uri="sip:tq3xk7m2pw9a@192.0.2.10:5060", user_agent="", source="", expires=60)
    headers = resync.notify_headers(device, contact, "tq3xk7m2pw9a").split("\r\n")
    assert "Event: check-sync;reboot=false" in headers

"""Fixtures of the provisioning tests: phones created through the terminal services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from cloudpbx.extensions.models import Extension
from cloudpbx.provisioning import testing
from cloudpbx.tenancy.models import Tenant
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings, create_terminal

_macs = itertools.count(0x112233)
OUI = {"yealink": "805ec0", "snom": "000413", "gigaset": "7c2f80", "htek": "001fc1"}


@pytest.fixture(autouse=True)
def _provisioning_settings(settings: Any) -> None:
    """The defaults, explicit so tests can reason about them; only the /prov/ routes."""
    import dataclasses

    settings.ROOT_URLCONF = "cloudpbx.provisioning.tests.urls"
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        prov_lockout_mac_failures=10,
        prov_lockout_ip_failures=30,
        prov_lockout_window_seconds=900,
        prov_lockout_seconds=900,
        prov_nonce_seconds=300,
        trusted_proxies=[],
        production=False,
    )


@pytest.fixture
def make_phone(tenant: Tenant) -> Callable[..., Terminal]:
    def make(
        vendor: str = "yealink",
        model: str = "T54W",
        *,
        auth_mode: str = "credentials",
        networks: tuple[str, ...] = (),
        name: str = "",
        extension: str = "10",
    ) -> Terminal:
        mac = OUI[vendor] + f"{next(_macs):06x}"
        ext = Extension.objects.for_tenant(tenant).get(number=extension)
        return create_terminal(
            tenant,
            name=name or f"{vendor} {model} {mac}",
            type="ip_phone",
            config_mode="automatic",
            internal_display_name="Empfang Müller",
            internal_extension=ext,
            ringing_extensions=[ext],
            device=DeviceSettings(
                manufacturer=vendor,
                model=model,
                mac=mac,
                auth_mode=auth_mode,
                trusted_networks=list(networks),
            ),
        )

    return make


class Phone:
    """A test client acting as one phone: its path, User-Agent and ACS credentials."""

    def __init__(self, terminal: Terminal, client: Client | None = None) -> None:
        self.terminal = terminal
        device = terminal.device
        assert device is not None
        self.device = device
        self.request = testing.phone_request(device.manufacturer, device.model, device.mac)
        self.client = client or Client()
        self.username = device.acs_username or ""
        self.password = device.acs_password

    @property
    def path(self) -> str:
        return self.request.path

    def get(self, path: str | None = None, **headers: str) -> Any:
        merged = {**self.request.headers, **headers}
        extra: dict[str, Any] = {
            "HTTP_" + k.upper().replace("-", "_"): v for k, v in merged.items()
        }
        remote = extra.pop("HTTP_REMOTE_ADDR", "192.0.2.10")
        secure = extra.pop("HTTP_SECURE", "") == "yes"  # over HTTPS (served by cloudpbx run)
        return self.client.get(path or self.path, REMOTE_ADDR=remote, secure=secure, **extra)

    def authorization(
        self, challenge: str, *, password: str | None = None, nc: int = 1, path: str | None = None
    ) -> str:
        return testing.digest_authorization(
            challenge,
            self.username,
            self.password if password is None else password,
            "GET",
            path or self.path,
            nc=nc,
        )

    def fetch(self, *, password: str | None = None, **headers: str) -> Any:
        """Challenge, then answer it: what the phone does."""
        first = self.get(**headers)
        assert first.status_code == 401, first.status_code
        return self.get(
            Authorization=self.authorization(first["WWW-Authenticate"], password=password),
            **headers,
        )


@pytest.fixture
def phone(make_phone: Callable[..., Terminal]) -> Phone:
    return Phone(make_phone())

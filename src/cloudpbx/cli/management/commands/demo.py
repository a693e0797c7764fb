"""``cloudpbx demo [--json]``: a ready-to-try customer, created idempotently."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from cloudpbx.accounts.models import User
from cloudpbx.accounts.services import authenticate_token, create_api_token
from cloudpbx.core import credentials
from cloudpbx.extensions.models import Extension
from cloudpbx.extensions.services import create_extension
from cloudpbx.numbering.models import PhoneNumber
from cloudpbx.numbering.services import add_number, add_number_block
from cloudpbx.tenancy.models import Membership, Tenant
from cloudpbx.tenancy.services import add_member, create_tenant
from cloudpbx.terminals.models import Terminal
from cloudpbx.terminals.services import DeviceSettings, create_terminal

TENANT_NAME = "Demo GmbH"
USERNAME = "demo"
MAIN_NUMBER = "+493012345600"
EXTENSIONS = {"10": "Empfang", "11": "Büro", "20": "Vertrieb"}
TERMINALS: list[dict[str, Any]] = [
    {"name": "Empfang Telefon", "type": "ip_phone", "rings": ["10"]},
    {
        "name": "Büro Yealink",
        "type": "ip_phone",
        "rings": ["11"],
        "config_mode": "automatic",
        "device": DeviceSettings(manufacturer="yealink", model="T54W", mac="80:5e:c0:12:34:56"),
    },
    {"name": "Softphone", "type": "app", "rings": ["10", "20"]},
    {"name": "Handy", "type": "external", "rings": ["20"], "external_number": "+4915123456789"},
]


class Command(BaseCommand):
    help = "Create (idempotently) a demo customer with numbers, extensions, terminals and logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        summary = ensure_demo()
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self.stdout.write(f"Portal:     {summary['portal_url']}")
        self.stdout.write(
            f"Login:      {summary['login']['username']} / {summary['login']['password']}"
        )
        self.stdout.write(f"API token:  {summary['api_token']}")
        self.stdout.write(f"API docs:   {summary['portal_url']}/api/v1/docs")
        for terminal in summary["terminals"]:
            sip = terminal.get("sip")
            account = f"  SIP {sip['username']} / {sip['password']}" if sip else ""
            number = f"  rings {terminal['number']}" if terminal.get("number") else ""
            self.stdout.write(
                f"Terminal:   {terminal['name']} ({terminal['type']}){account}{number}"
            )
            prov = terminal.get("provisioning")
            if prov:
                self.stdout.write(
                    f"            provisioning {prov['file']}  login {prov['username']} / "
                    f"{prov['password']}"
                )


def _secrets_file() -> Path:
    return settings.CONFIG.data_dir / "demo.json"


def _load_secrets() -> dict[str, str]:
    try:
        return json.loads(_secrets_file().read_text())
    except (OSError, ValueError):
        return {}


def _store_secrets(values: dict[str, str]) -> None:
    path = _secrets_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)


@transaction.atomic
def ensure_demo() -> dict[str, Any]:
    """Create what is missing; keep what exists. The demo login and token are kept in the
    data dir (0600) so that a second run can print them again; lost ones are renewed."""
    tenant = Tenant.objects.filter(name=TENANT_NAME).first() or create_tenant(
        name=TENANT_NAME, country="DE"
    )
    if not PhoneNumber.objects.for_tenant(tenant).exists():
        add_number(tenant, e164=MAIN_NUMBER, is_main=True, label="Zentrale")
        add_number_block(tenant, first="+493012345601", count=9)
    extensions = {e.number: e for e in Extension.objects.for_tenant(tenant)}
    for number, name in EXTENSIONS.items():
        if number not in extensions:
            extensions[number] = create_extension(tenant, number=number, name=name)

    stored = _load_secrets()
    user = User.objects.filter(username=USERNAME).first()
    if user is None or not user.check_password(stored.get("password", "")):
        stored["password"] = credentials.generate_password(16)
        user = user or User(username=USERNAME, first_name="Demo", email="demo@example.invalid")
        user.set_password(stored["password"])
        user.save()
    if not Membership.objects.filter(user=user, tenant=tenant).exists():
        add_member(tenant, user)
    if authenticate_token(stored.get("api_token", "")) is None:
        _token, stored["api_token"] = create_api_token(user, tenant, "demo")
    _store_secrets(stored)

    existing = {t.name for t in Terminal.objects.for_tenant(tenant)}
    for spec in TERMINALS:
        if spec["name"] in existing:
            continue
        values = {k: v for k, v in spec.items() if k not in {"rings", "device"}}
        create_terminal(
            tenant,
            ringing_extensions=[extensions[n] for n in spec["rings"]],
            device=spec.get("device"),
            generate_credentials=True,
            **values,
        )

    terminals = []
    for terminal in Terminal.objects.for_tenant(tenant).order_by("pk"):
        entry: dict[str, Any] = {"id": terminal.pk, "name": terminal.name, "type": terminal.type}
        if terminal.sip_username:
            entry["sip"] = {"username": terminal.sip_username, "password": terminal.sip_password}
        device = terminal.device
        if device is not None and device.acs_username:
            entry["provisioning"] = {
                "file": f"{settings.CLOUDPBX_PUBLIC_URL}/prov/{device.mac}.cfg",
                "username": device.acs_username,
                "password": device.acs_password,
            }
        if terminal.external_number:
            entry["number"] = terminal.external_number
        if terminal.type == Terminal.Type.APP and settings.CONFIG.sip_wss_port:
            page = reverse("terminals:softphone", args=[terminal.pk])
            entry["softphone"] = f"{settings.CLOUDPBX_PUBLIC_URL}{page}"
        terminals.append(entry)
    return {
        "tenant": tenant.name,
        "portal_url": settings.CLOUDPBX_PUBLIC_URL,
        "login": {"username": USERNAME, "password": stored["password"]},
        "api_token": stored["api_token"],
        "terminals": terminals,
    }

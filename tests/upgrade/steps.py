"""The two halves of the upgrade test, each run as ``python -m tests.upgrade.steps STEP`` on the
test's database: ``previous`` builds the previous release's schema and data, ``check`` reads
them back after the upgrade. Prints one JSON line."""

import json
import sys
from pathlib import Path

PREVIOUS = json.loads((Path(__file__).parent / "previous_release.json").read_text())


def previous() -> dict:
    """Migrate an empty database to the previous release and fill it as that release would."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    from cloudpbx import backup

    targets = list(PREVIOUS["migrations"].items())
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    old = executor.loader.project_state(targets).apps
    tenant = old.get_model("tenancy", "Tenant").objects.create(
        name="Alte Firma", country="DE", language="de", timezone="Europe/Berlin"
    )
    number = old.get_model("numbering", "PhoneNumber").objects.create(
        tenant=tenant, e164="+493012345600", is_main=True
    )
    Terminal = old.get_model("terminals", "Terminal")
    Device = old.get_model("provisioning", "ProvisioningDevice")
    for name, mac, fetched in (("Empfang", "805ec0aabbcc", True), ("Lager", "805ec0aabbcd", False)):
        terminal = Terminal.objects.create(
            tenant=tenant, name=name, type="ip_phone", identification_number=number,
            config_mode="automatic", sip_username=f"u{mac}",
        )  # fmt: skip
        Device.objects.create(
            terminal=terminal, manufacturer="yealink", model="T54W", mac=mac,
            auth_mode="credentials", acs_username=f"a{mac}",
            last_fetch_at=timezone.now() if fetched else None,
        )  # fmt: skip
    latest = backup.latest_migrations()
    return {"at": {app: latest[app] for app in PREVIOUS["migrations"]}}


def check() -> dict:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from cloudpbx.numbering.models import PhoneNumber
    from cloudpbx.provisioning.models import ProvisioningDevice
    from cloudpbx.tenancy.models import Tenant
    from cloudpbx.terminals.models import Terminal

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    devices = ProvisioningDevice.objects.select_related("tenant").order_by("mac")
    return {
        "tenant": Tenant.objects.get().name,
        "terminals": sorted(Terminal.objects.values_list("name", flat=True)),
        "number": PhoneNumber.objects.get().e164,
        "devices": [[d.mac, d.tenant.name, d.bound_at is not None] for d in devices],
        "pending": [str(migration) for migration, _ in pending],
    }


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudpbx.settings")
    django.setup()
    print(json.dumps({"previous": previous, "check": check}[sys.argv[1]]()))

"""A MAC unique per customer instead of across all of them, and the proof that binds it
(the data; 0007 the constraints, in a transaction of its own as PostgreSQL requires after
updating rows).

Every existing device is given its terminal's customer. A device that has fetched its file
before counts as bound (by the authentication it uses now): the MAC was unique across all
customers until now, so at most one device per MAC is bound.
"""

import django.db.models.deletion
from django.db import migrations, models


def tenants_and_earlier_fetches(apps, schema_editor):
    Device = apps.get_model("provisioning", "ProvisioningDevice")
    for device in Device.objects.select_related("terminal").iterator():
        device.tenant_id = device.terminal.tenant_id
        if device.last_fetch_at is not None:
            device.bound_at = device.last_fetch_at
            device.bound_by = device.auth_mode  # "credentials" or "trusted_ip"
        device.save(update_fields=["tenant", "bound_at", "bound_by"])


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0005_redirect_credentials_fingerprint"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="provisioningdevice",
            name="tenant",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenancy.tenant",
                verbose_name="customer",
            ),
        ),
        migrations.AddField(
            model_name="provisioningdevice",
            name="bound_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="bound"),
        ),
        migrations.AddField(
            model_name="provisioningdevice",
            name="bound_by",
            field=models.CharField(
                blank=True,
                choices=[
                    ("credentials", "first fetch with its HTTP credentials"),
                    ("trusted_ip", "first fetch from a trusted address"),
                    ("mac_id", "MAC-ID accepted by Gigaset"),
                    ("operator", "the operator"),
                ],
                editable=False,
                max_length=16,
                verbose_name="bound by",
            ),
        ),
        migrations.RunPython(tenants_and_earlier_fetches, migrations.RunPython.noop),
    ]

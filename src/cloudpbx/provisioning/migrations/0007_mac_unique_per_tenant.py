"""A MAC unique per customer, bound to at most one device (see 0006)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0006_mac_claims"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provisioningdevice",
            name="tenant",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenancy.tenant",
                verbose_name="customer",
            ),
        ),
        migrations.AlterField(
            model_name="provisioningdevice",
            name="mac",
            field=models.CharField(max_length=12, verbose_name="MAC address"),
        ),
        migrations.AddConstraint(
            model_name="provisioningdevice",
            constraint=models.UniqueConstraint(
                fields=("tenant", "mac"),
                name="device_mac_unique_per_tenant",
                violation_error_message=(
                    "Another terminal of this PBX already uses this MAC address."
                ),
            ),
        ),
        migrations.AddConstraint(
            model_name="provisioningdevice",
            constraint=models.UniqueConstraint(
                condition=models.Q(("bound_at__isnull", False)),
                fields=("mac",),
                name="device_mac_bound_once",
            ),
        ),
    ]

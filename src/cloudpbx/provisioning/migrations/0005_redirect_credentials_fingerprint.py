from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0004_redirect_services_and_resync"),
    ]

    operations = [
        migrations.AddField(
            model_name="redirectregistration",
            name="credentials_fingerprint",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
    ]

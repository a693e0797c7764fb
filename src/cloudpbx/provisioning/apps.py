from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "cloudpbx.provisioning"
    label = "provisioning"

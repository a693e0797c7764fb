from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "cloudpbx.tenancy"
    label = "tenancy"

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "cloudpbx.core"
    label = "core"

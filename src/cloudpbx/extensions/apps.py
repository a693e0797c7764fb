from django.apps import AppConfig


class ExtensionsConfig(AppConfig):
    name = "cloudpbx.extensions"
    label = "extensions"

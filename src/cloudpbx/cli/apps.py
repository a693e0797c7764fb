from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "cloudpbx.cli"
    label = "cli"

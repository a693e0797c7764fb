from django.apps import AppConfig


class NumberingConfig(AppConfig):
    name = "cloudpbx.numbering"
    label = "numbering"

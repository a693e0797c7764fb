from django.apps import AppConfig


class TrunksConfig(AppConfig):
    name = "cloudpbx.trunks"
    label = "trunks"

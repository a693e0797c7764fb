from django.apps import AppConfig


class TerminalsConfig(AppConfig):
    name = "cloudpbx.terminals"
    label = "terminals"

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "cloudpbx.web"
    label = "web"

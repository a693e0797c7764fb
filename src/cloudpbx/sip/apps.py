from django.apps import AppConfig


class SipConfig(AppConfig):
    name = "cloudpbx.sip"
    label = "sip"

    def ready(self) -> None:
        from cloudpbx.sip import notify

        notify.connect()

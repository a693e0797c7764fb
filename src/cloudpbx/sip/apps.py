from django.apps import AppConfig


class SipConfig(AppConfig):
    name = "cloudpbx.sip"
    label = "sip"

    def ready(self) -> None:
        from cloudpbx.provisioning.services import resync
        from cloudpbx.sip import check_sync, notify

        notify.connect()
        resync.use_sender(check_sync.KamailioCheckSync())

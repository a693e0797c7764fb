from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "cloudpbx.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from cloudpbx.provisioning import jobs, redirects, resync

        assert jobs  # registers the job functions with the queue in every process
        redirects.connect()
        resync.connect()

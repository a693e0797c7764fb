from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "cloudpbx.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        # Importing jobs registers the job functions with the queue in every process.
        from cloudpbx.provisioning import jobs, redirects, services
        from cloudpbx.terminals.services import use_automatic_configuration

        redirects.connect()
        jobs.connect()
        use_automatic_configuration(services.Devices())

from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "cloudpbx.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        # Importing jobs registers the job functions with the queue in every process.
        from cloudpbx.provisioning import jobs, services
        from cloudpbx.provisioning.services import redirect_registrations
        from cloudpbx.terminals.services import use_automatic_configuration

        redirect_registrations.connect()
        jobs.connect()
        use_automatic_configuration(services.Devices())

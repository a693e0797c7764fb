from django.apps import AppConfig


class ExtensionsConfig(AppConfig):
    name = "cloudpbx.extensions"
    label = "extensions"

    def ready(self) -> None:
        from cloudpbx.extensions.models import extensions_clashing_with_country
        from cloudpbx.tenancy.models import COUNTRY_CHANGE_CHECKS

        if extensions_clashing_with_country not in COUNTRY_CHANGE_CHECKS:
            COUNTRY_CHANGE_CHECKS.append(extensions_clashing_with_country)

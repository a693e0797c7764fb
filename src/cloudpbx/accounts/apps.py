from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "cloudpbx.accounts"
    label = "accounts"

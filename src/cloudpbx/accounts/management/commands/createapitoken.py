from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cloudpbx.accounts.models import User
from cloudpbx.accounts.services import create_api_token
from cloudpbx.tenancy.models import Tenant


class Command(BaseCommand):
    help = "Create an API token for a user in a customer; prints the token once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("tenant", help="customer name")
        parser.add_argument("--name", default="cli")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        tenant = Tenant.objects.filter(name=options["tenant"]).first()
        if user is None or tenant is None:
            raise CommandError("unknown user or customer")
        try:
            _token, value = create_api_token(user, tenant, options["name"])
        except ValidationError as error:
            raise CommandError(error.message_dict) from error
        self.stdout.write(value)

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cloudpbx.numbering.services import add_number_block, update_number
from cloudpbx.tenancy.models import Tenant


class Command(BaseCommand):
    help = "Assign a block of consecutive numbers to a customer."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("tenant", help="customer name or id")
        parser.add_argument("first", help="first number, E.164 or national")
        parser.add_argument("--count", type=int, default=1)
        parser.add_argument("--main", action="store_true", help="make the first one the main")

    def handle(self, *args: Any, **options: Any) -> None:
        key = options["tenant"]
        tenant = Tenant.objects.filter(pk=int(key) if key.isdigit() else None).first() or (
            Tenant.objects.filter(name=key).first()
        )
        if tenant is None:
            raise CommandError(f"no tenant {key!r}")
        try:
            with transaction.atomic():
                numbers = add_number_block(tenant, first=options["first"], count=options["count"])
                if options["main"]:
                    update_number(numbers[0], is_main=True)
        except ValidationError as error:
            raise CommandError(error.message_dict) from error
        for number in numbers:
            self.stdout.write(number.e164)

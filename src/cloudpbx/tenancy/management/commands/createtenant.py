from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cloudpbx.tenancy.services import create_tenant


class Command(BaseCommand):
    help = "Create a customer (tenant)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument("--country", default="DE", help="DE or FR")
        parser.add_argument("--language", default="", help="en, fr or de (default: by country)")
        parser.add_argument("--timezone", default="", help="e.g. Europe/Paris")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = create_tenant(
                name=options["name"],
                country=options["country"].upper(),
                language=options["language"],
                timezone=options["timezone"],
            )
        except ValidationError as error:
            raise CommandError(error.message_dict) from error
        self.stdout.write(f"created tenant {tenant.pk}: {tenant.name}")

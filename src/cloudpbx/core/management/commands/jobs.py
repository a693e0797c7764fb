"""``cloudpbx jobs``: work the background job queue (started by ``cloudpbx run``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cloudpbx.core import jobs


class Command(BaseCommand):
    help = "Work the background job queue (redirect services, phone re-sync) until stopped."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workers", type=int, default=2, help="worker threads (default 2)")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs.run_worker(workers=options["workers"])

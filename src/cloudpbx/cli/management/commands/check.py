"""``cloudpbx check``: Django's system checks, then whether every part of this node is well
(the same answer as ``/healthz``); exits non-zero when something fails."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import check

from cloudpbx import health


class Command(check.Command):
    help = "Run Django's system checks, then check the database, jobs, Kamailio and rtpengine."

    def handle(self, *app_labels: Any, **options: Any) -> None:
        super().handle(*app_labels, **options)
        parts = health.check(settings.CONFIG)
        for part in parts:
            self.stdout.write(f"{part.name:<10} {part.problem or 'ok'}")
        failing = [part.name for part in parts if not part.ok]
        if failing:
            raise CommandError(f"failing: {', '.join(failing)}")

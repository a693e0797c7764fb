"""``cloudpbx run``: migrate, create demo data on a new database, serve until stopped.

The web server (gunicorn, several workers) runs as a supervised child: restarted if it dies,
stopped cleanly on SIGINT/SIGTERM. Kamailio joins it here when the SIP core lands.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from cloudpbx.tenancy.models import Tenant

RESTART_BACKOFF_SECONDS = (1, 2, 5, 10, 30)


class Command(BaseCommand):
    help = "Run the whole PBX: migrate, demo data on a new database, web server."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-demo", action="store_true", help="never create demo data")

    def handle(self, *args: Any, **options: Any) -> None:
        config = settings.CONFIG
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        if not options["no_demo"] and not Tenant.objects.exists():
            from cloudpbx.core.management.commands.demo import ensure_demo

            summary = ensure_demo()
            self.stdout.write("Demo data created.")
        else:
            summary = None

        command = [
            sys.executable, "-m", "gunicorn", "cloudpbx.wsgi:application",
            "--bind", f"{config.http_host}:{config.http_port}",
            "--workers", str(config.http_workers),
            "--access-logfile", "-",
            "--graceful-timeout", "5",
        ]  # fmt: skip
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        self.stdout.write(f"Portal and API: {config.public_web_url}/")
        self.stdout.write(f"API docs:       {config.public_web_url}/api/v1/docs")
        if summary:
            self.stdout.write(
                f"Login:          {summary['login']['username']} / {summary['login']['password']}"
            )
            self.stdout.write(f"API token:      {summary['api_token']}")
        else:
            self.stdout.write("Login and token of the demo: cloudpbx demo")
        self.stdout.flush()

        failures = 0
        while not stopping:
            server = subprocess.Popen(command)  # noqa: S603
            started = time.monotonic()
            while not stopping and server.poll() is None:
                time.sleep(0.2)
            if stopping:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                break
            failures = 0 if time.monotonic() - started > 60 else failures + 1
            delay = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS) - 1)]
            self.stderr.write(f"web server exited ({server.returncode}); restarting in {delay}s")
            time.sleep(delay)
        self.stdout.write("stopped")

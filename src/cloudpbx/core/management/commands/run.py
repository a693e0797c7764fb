"""``cloudpbx run``: migrate, create demo data on a new database, then run the whole PBX.

The web server (granian, several workers), the job worker, rtpengine and Kamailio run as supervised
children: restarted if they die, stopped cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from cloudpbx.core.supervisor import Child, Supervisor
from cloudpbx.sip import kamailio, rtpengine
from cloudpbx.tenancy.models import Tenant


class Command(BaseCommand):
    help = "Run the whole PBX: migrate, demo data on a new database, web server and Kamailio."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-demo", action="store_true", help="never create demo data")
        parser.add_argument(
            "--no-sip", action="store_true", help="do not start Kamailio and rtpengine"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = settings.CONFIG
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        summary = None
        if not options["no_demo"] and not Tenant.objects.exists():
            from cloudpbx.core.management.commands.demo import ensure_demo

            summary = ensure_demo()
            self.stdout.write("Demo data created.")

        children = [self.web_server(config), self.job_worker()]
        if not options["no_sip"]:
            # The relay first: Kamailio checks it is there when it starts.
            children.append(rtpengine.child(config, config.data_dir / "rtpengine"))
            children.append(kamailio.child(config, config.data_dir / "kamailio"))
        supervisor = Supervisor(children)

        def stop(signum: int, frame: Any) -> None:
            supervisor.stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        supervisor.start()

        self.stdout.write(f"Portal and API: {config.public_web_url}/")
        self.stdout.write(f"API docs:       {config.public_web_url}/api/v1/docs")
        if not options["no_sip"]:
            self.stdout.write(
                f"SIP registrar:  {config.sip_domain}:{config.sip_port} "
                f"(udp/tcp, listening on {config.sip_listen})"
            )
            advertised = config.media_advertise or config.media_address
            self.stdout.write(
                f"Media relay:    {advertised} udp {config.media_port_min}-{config.media_port_max}"
            )
        if summary:
            login = summary["login"]
            self.stdout.write(f"Login:          {login['username']} / {login['password']}")
            self.stdout.write(f"API token:      {summary['api_token']}")
        else:
            self.stdout.write("Demo login, token and SIP accounts: ./cloudpbx.sh demo")
        self.stdout.flush()
        try:
            supervisor.watch()
        finally:
            supervisor.stop()
        self.stdout.write("stopped")

    def job_worker(self) -> Child:
        """Background jobs (redirect services, phone re-sync): ``cloudpbx jobs``."""
        return Child(name="jobs", command=[sys.executable, "-m", "cloudpbx", "jobs"])

    def web_server(self, config: Any) -> Child:
        url = f"http://{config.http_host}:{config.http_port}/healthz"

        def ready() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        # granian over gunicorn: measured faster on the provisioning benchmark (bench/README.md).
        # fmt: off
        command = [
            sys.executable, "-m", "granian", "--interface", "wsgi",
            "--host", config.http_host, "--port", str(config.http_port),
            "--workers", str(config.http_workers),
            # No access log: app links carry one-time tokens in their path.
            "--respawn-failed-workers", "--no-access-log",
            "cloudpbx.wsgi:application",
        ]
        # fmt: on
        return Child(name="web", command=command, ready=ready)

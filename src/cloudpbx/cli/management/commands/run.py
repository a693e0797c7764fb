"""``cloudpbx run``: migrate, create demo data on a new database, then run the whole PBX.

The web server (granian: HTTPS, and plain HTTP that redirects to it), the job worker, rtpengine
and Kamailio run as supervised children: restarted if they die, stopped cleanly on SIGINT/SIGTERM.
The TLS certificate is checked first (or issued by the embedded CA): a bad one stops the start
with a message naming the problem.
"""

from __future__ import annotations

import logging
import signal
import ssl
import sys
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from cloudpbx import metrics
from cloudpbx.config import Config, ConfigError
from cloudpbx.core import certificates
from cloudpbx.core.supervisor import Child, Supervisor
from cloudpbx.sip import kamailio, kamailio_config, rpc, rtpengine
from cloudpbx.tenancy.models import Tenant

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the whole PBX: migrate, demo data on a new database, web server and Kamailio."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-demo", action="store_true", help="never create demo data")
        parser.add_argument(
            "--no-sip", action="store_true", help="do not start Kamailio and rtpengine"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = settings.CONFIG
        try:
            server_certificate = certificates.ensure(config)
        except ConfigError as error:
            raise CommandError(str(error)) from error
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        summary = None
        if not options["no_demo"] and not Tenant.objects.exists():
            from cloudpbx.cli.management.commands.demo import ensure_demo

            summary = ensure_demo()
            self.stdout.write("Demo data created.")

        metrics.count_across_processes(config.data_dir)
        web = web_servers(config, server_certificate)
        children = [*web, self.job_worker()]
        if not options["no_sip"]:
            # The relay first: Kamailio checks it is there when it starts.
            children.append(rtpengine.child(config, config.data_dir / "rtpengine"))
            try:
                children.append(kamailio.child(config, config.data_dir / "kamailio"))
            except RuntimeError as error:  # what ./cloudpbx.sh install would have provided
                raise CommandError(str(error)) from error
        watch = CertificateWatch(config, server_certificate, web, sip=not options["no_sip"])
        supervisor = Supervisor(children, tick=watch.tick, state_dir=config.data_dir / "run")

        def stop(signum: int, frame: Any) -> None:
            supervisor.stopping = True

        def reload(signum: int, frame: Any) -> None:
            watch.requested = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, reload)
        supervisor.start()

        self.stdout.write(f"Portal and API: {config.public_web_url}/")
        self.stdout.write(f"API docs:       {config.public_web_url}/api/v1/docs")
        if config.https_port:
            plain = "/prov/ for phones without HTTPS, else " if config.prov_plain_http else ""
            self.stdout.write(
                f"Plain HTTP:     http://{config.http_host}:{config.http_port}/ "
                f"({plain}redirects to HTTPS)"
            )
        self.stdout.write(self.certificate_line(server_certificate))
        if not options["no_sip"]:
            tls = f", tls {config.sip_tls_port}" if config.sip_tls_port else ""
            if config.sip_wss_port:
                tls += f", browsers {config.softphone_url}"
            plain = "" if config.sip_plain_phones else "; phones over TLS only"
            self.stdout.write(
                f"SIP registrar:  {config.sip_domain} (udp/tcp {config.sip_port}{tls}{plain}; "
                f"listening on {config.sip_listen})"
            )
            advertised = config.media_advertise or config.media_address
            self.stdout.write(
                f"Media relay:    {advertised} udp {config.media_port_min}-{config.media_port_max}"
            )
        if summary:
            login = summary["login"]
            self.stdout.write(f"Login:          {login['username']} / {login['password']}")
            self.stdout.write(f"API token:      {summary['api_token']}")
            for terminal in summary["terminals"]:
                if "softphone" in terminal:
                    self.stdout.write(f"Softphone:      {terminal['softphone']} (in the browser)")
        else:
            self.stdout.write("Demo login, token and SIP accounts: ./cloudpbx.sh demo")
        self.stdout.flush()
        try:
            supervisor.watch()
        finally:
            supervisor.stop()
        self.stdout.write("stopped")

    def certificate_line(self, server: certificates.ServerCertificate) -> str:
        expires = f"valid until {server.not_after:%Y-%m-%d}"
        if server.ca is None:
            return f"TLS:            {server.certificate} ({expires})"
        return (
            f"TLS:            embedded CA {server.ca} ({expires}); have phones and browsers "
            f"trust it, SHA-256 fingerprint {server.fingerprint}"
        )

    def job_worker(self) -> Child:
        """Background jobs (redirect services, phone re-sync): ``cloudpbx jobs``."""
        return Child(name="jobs", command=[sys.executable, "-m", "cloudpbx", "jobs"])


class CertificateWatch:
    """Picks up a new certificate (certbot's renewal, an operator's copy, the embedded CA's
    renewal) when its files change or on SIGHUP: checked first, then Kamailio reloads its
    TLS profiles (``tls.reload``: registrations, connections and calls stay) and the web
    servers restart (a second without the portal; their TLS is read at start)."""

    CHECK_SECONDS = 5.0

    def __init__(
        self, config: Config, server: certificates.ServerCertificate, web: list[Child], sip: bool
    ) -> None:
        self.config, self.web, self.sip = config, web, sip
        self.state = self.files_state(server)
        self.checked_at = time.monotonic()
        self.requested = False

    @staticmethod
    def files_state(server: certificates.ServerCertificate) -> tuple[tuple[int, int, int], ...]:
        """What changes when a file is rewritten or a symlink (certbot's live/) is moved."""
        state = []
        for path in (server.certificate, server.key):
            try:
                found = path.stat()
            except OSError:
                state.append((0, 0, 0))
            else:
                state.append((found.st_ino, found.st_mtime_ns, found.st_size))
        return tuple(state)

    def tick(self) -> None:
        now = time.monotonic()
        if not self.requested and now - self.checked_at < self.CHECK_SECONDS:
            return
        self.checked_at = now
        asked, self.requested = self.requested, False
        current = self.state
        try:
            server = certificates.ensure(self.config)  # may renew the embedded certificate
        except ConfigError as error:
            logger.error("TLS certificate not reloaded: %s", error)  # the old one stays
            return
        self.state = self.files_state(server)
        if self.state == current and not asked:
            return
        logger.info("TLS certificate changed: reloading (valid until %s)", server.not_after)
        if self.sip and kamailio_config.uses_tls(self.config):
            try:
                rpc.call(
                    kamailio.rpc_url(self.config), "tls.reload",
                    token=rpc.token(self.config.secret_key),
                )  # fmt: skip
            except rpc.RpcError as error:  # it reads the new files when it next starts
                logger.warning("Kamailio did not reload its TLS certificate: %s", error)
        for child in self.web:
            child.stop()
            child.start()


def web_servers(config: Config, server: certificates.ServerCertificate) -> list[Child]:
    """HTTPS with the server certificate and plain HTTP that redirects to it; or, behind a TLS
    reverse proxy (``CLOUDPBX_HTTPS_PORT=0``), plain HTTP serving everything."""
    if not config.https_port:
        return [_granian("web", config, config.http_port, "application")]
    tls = [
        "--ssl-certificate", str(server.certificate), "--ssl-keyfile", str(server.key),
        "--ssl-protocol-min", "tls1.2",
    ]  # fmt: skip
    return [
        _granian("web", config, config.https_port, "application", tls),
        _granian("web-http", config, config.http_port, "plain_http", workers=1),
    ]


def _granian(
    name: str,
    config: Config,
    port: int,
    application: str,
    tls: list[str] | None = None,
    workers: int | None = None,
) -> Child:
    scheme = "https" if tls else "http"
    url = f"{scheme}://{config.http_host}:{port}/healthz/live"
    # Asked on loopback by the supervisor: whether it serves, not who it is.
    context = ssl._create_unverified_context() if tls else None  # noqa: S323

    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    # granian over gunicorn: measured faster on the provisioning benchmark (bench/README.md).
    # fmt: off
    command = [
        sys.executable, "-m", "granian", "--interface", "wsgi",
        "--host", config.http_host, "--port", str(port),
        "--workers", str(workers or config.http_workers),
        # No access log: app links carry one-time tokens in their path.
        "--respawn-failed-workers", "--no-access-log",
        *(tls or []),
        f"cloudpbx.wsgi:{application}",
    ]
    # fmt: on
    return Child(name=name, command=command, ready=ready)

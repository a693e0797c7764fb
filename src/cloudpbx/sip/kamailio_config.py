"""Kamailio's configuration, generated from our settings, and its registration database."""

from __future__ import annotations

import glob
import ipaddress
import os
import sqlite3
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import jinja2

from cloudpbx.config import Config, derived_key, to_environment
from cloudpbx.core import certificates
from cloudpbx.sip import metrics

TEMPLATE = Path(__file__).with_name("kamailio.cfg.j2")
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"  # Debian's ca-certificates
KEMI_SCRIPT = Path(__file__).with_name("kemi.py")
# Built by ./cloudpbx.sh from openssl_fork.c: without it, TLS errors in several Kamailio
# workers at once corrupt its shared memory (see the source).
OPENSSL_FORK_FIX = Path(sys.prefix) / "lib" / "cloudpbx-openssl-fork.so"
SCHEMA_DIRS = {
    "sqlite": "/usr/share/kamailio/db_sqlite",
    "postgres": "/usr/share/kamailio/postgres",
}


@dataclass(frozen=True)
class KamailioFiles:
    run_dir: Path
    config: Path
    pid_file: Path


def module_dir() -> str:
    found = sorted(glob.glob("/usr/lib/*/kamailio/modules/app_python3.so"))
    if not found:
        raise RuntimeError(
            "Kamailio with Python support is missing: apt-get install kamailio "
            "kamailio-python3-modules (./cloudpbx.sh installs it)"
        )
    return str(Path(found[0]).parent)


# On SQLite, Kamailio keeps registrations in memory and writes changes back this often (usrloc
# db_mode 2); a write-back cannot be asked for over RPC (only the timer process has a database
# connection), so whoever needs the file current waits this long.
USRLOC_WRITE_BACK_SECONDS = 10
USRLOC_DB_MODES = {"write-through": 1, "write-back": 2}  # CLOUDPBX_SIP_USRLOC_MODE, SQLite


def usrloc_file(config: Config) -> Path | None:
    """Kamailio's own SQLite file of registrations; None when they live in the shared
    PostgreSQL database."""
    if config.database_url.startswith(("postgres://", "postgresql://")):
        return None
    return config.data_dir / "kamailio" / "usrloc.sqlite"


def usrloc_db_url(config: Config) -> str:
    """Registrations: Kamailio's own SQLite file by default, the shared PostgreSQL otherwise."""
    path = usrloc_file(config)
    if path is None:
        return "postgres://" + config.database_url.split("://", 1)[1]
    # Kamailio's URL parser reads "sqlite://<host>/<database>": an absolute path needs
    # four slashes (with three, the file is opened relative to the working directory).
    return f"sqlite:///{path}"


def nonce_secret(config: Config) -> str:
    # The same on every node (nonces stay valid across a cluster), different from the key.
    return derived_key(config.secret_key, "kamailio nonce").hex()[:32]


def topoh_key(config: Config) -> str:
    return derived_key(config.secret_key, "kamailio topoh").hex()[:32]


def mask_ip(config: Config) -> str:
    """The address masked headers name: the PBX's own, so the far end sees only the PBX."""
    for candidate in (config.sip_listen, config.sip_domain):
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if not address.is_unspecified:
            return str(address)
    return "127.0.0.8"  # topoh's default: an address no client uses


def tls_config_path(run_dir: Path) -> Path:
    return run_dir / "tls.cfg"


def render_tls(server: certificates.ServerCertificate) -> str:
    """The tls module's profiles: phones present no client certificate; outgoing TLS (a
    carrier on ``transport=tls``) verifies the far end against the system's CAs."""
    return (
        "[server:default]\n"
        "method = TLSv1.2+\n"
        "verify_certificate = no\n"
        "require_certificate = no\n"
        f"certificate = {server.certificate}\n"
        f"private_key = {server.key}\n"
        "\n"
        "[client:default]\n"
        "method = TLSv1.2+\n"
        "verify_certificate = yes\n"
        "require_certificate = yes\n"
        f"ca_list = {SYSTEM_CAS}\n"
    )


def uses_tls(config: Config) -> bool:
    """SIP over TLS for phones, or over secure WebSockets for browsers."""
    return bool(config.sip_tls_port or config.sip_wss_port)


def render(config: Config, run_dir: Path) -> str:
    postgres = usrloc_db_url(config).startswith("postgres")
    listen = [f"{proto}:{config.sip_listen}:{config.sip_port}" for proto in ("udp", "tcp")]
    for port in (config.sip_tls_port, config.sip_wss_port):
        if port:
            listen.append(f"tls:{config.sip_listen}:{port}")
    environment = jinja2.Environment(autoescape=False, keep_trailing_newline=True)  # noqa: S701
    template = environment.from_string(TEMPLATE.read_text())
    return template.render(
        debug_level=config.sip_debug,
        children=config.sip_children,
        domain=config.sip_domain,
        sip_port=config.sip_port,
        listen=listen,
        rpc_port=config.sip_rpc_port,
        rpc_listen=config.sip_rpc_listen,
        module_dir=module_dir(),
        db_module="db_postgres.so" if postgres else "db_sqlite.so",
        usrloc_db_url=usrloc_db_url(config),
        # Write-back keeps REGISTER off the disk; a shared PostgreSQL is the only state when
        # several nodes serve the same phones (DB-only).
        usrloc_db_mode=3 if postgres else USRLOC_DB_MODES[config.sip_usrloc_mode],
        usrloc_write_back_seconds=USRLOC_WRITE_BACK_SECONDS,
        max_contacts=config.sip_max_contacts,
        ring_timeout_ms=config.sip_ring_timeout * 1000,
        nonce_secret=nonce_secret(config),
        topoh_key=topoh_key(config),
        mask_ip=mask_ip(config),
        flood_requests_per_2s=config.sip_flood_requests_per_2s,
        ban_seconds=config.sip_ban_seconds,
        failure_window_seconds=config.sip_ban_seconds,
        kemi_script=KEMI_SCRIPT,
        router_counters=metrics.ROUTER_COUNTERS,
        media_ng_port=config.media_ng_port,
        tls_config=tls_config_path(run_dir) if uses_tls(config) else "",
        websocket=bool(config.sip_wss_port),
    )


def ensure_usrloc_schema(config: Config) -> None:
    """Create Kamailio's ``version`` and ``location`` tables from the schema Debian ships."""
    path = usrloc_file(config)
    kind = "postgres" if path is None else "sqlite"
    scripts = [
        Path(SCHEMA_DIRS[kind], name) for name in ("standard-create.sql", "usrloc-create.sql")
    ]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as connection:
            exists = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'location'"
            ).fetchone()
            if not exists:
                for script in scripts:
                    connection.executescript(script.read_text())
        return
    import psycopg

    url = usrloc_db_url(config).replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute("SELECT to_regclass('location')").fetchone()
        if row is None or row[0] is None:
            for script in scripts:
                db.execute(script.read_text())


def write(config: Config, run_dir: Path) -> KamailioFiles:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "kamailio.cfg"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the nonce secret
    with os.fdopen(fd, "w") as handle:
        handle.write(render(config, run_dir))
    if uses_tls(config):
        # Checked (or issued by the embedded CA) on every start: a bad certificate is named.
        tls_config_path(run_dir).write_text(render_tls(certificates.ensure(config)))
    ensure_usrloc_schema(config)
    return KamailioFiles(run_dir=run_dir, config=path, pid_file=run_dir / "kamailio.pid")


def command(config: Config, files: KamailioFiles) -> list[str]:
    return [
        "/usr/sbin/kamailio", "-DD", "-E",
        "-f", str(files.config), "-Y", str(files.run_dir), "-P", str(files.pid_file),
        "-m", str(config.sip_shm_mb), "-M", "16",
        # TLSF shared-memory allocator and a 4 MB UDP receive buffer: with both, the router
        # ran clean at rates where the defaults dropped datagrams (bench/README.md).
        "-x", "tlsf", "-b", "4194304",
    ]  # fmt: skip


def environment(config: Config) -> dict[str, str]:
    """What the embedded Python needs: our venv and the same settings as the web server."""
    env = dict(os.environ)
    env.update(to_environment(config))
    env["CLOUDPBX_SITE_PACKAGES"] = sysconfig.get_paths()["purelib"]
    env["TZ"] = "UTC"  # registration expiry times in the database are zone-less
    if uses_tls(config):
        if not OPENSSL_FORK_FIX.is_file():
            raise RuntimeError(
                f"{OPENSSL_FORK_FIX} is missing: Kamailio's TLS would not survive concurrent "
                "TLS errors (./cloudpbx.sh install builds it)"
            )
        env["LD_PRELOAD"] = str(OPENSSL_FORK_FIX)
    return env

"""Shared by the SIP benchmarks (``bench/sip_register``, ``bench/sip_calls``).

- a throw-away cloudpbx data dir (SQLite, migrated) with terminals created through the service
  layer, exactly as the portal creates them;
- cloudpbx's Kamailio started the way ``cloudpbx run`` starts it (``cloudpbx.sip.kamailio.child``
  under the supervisor, the generated config, Python routing), with the load generator's
  address exempted from flood bans (``CLOUDPBX_SIP_FLOOD_EXEMPT=127.0.0.0/8``);
- the ceiling: a native Kamailio config (no Python) doing the same work with the same modules and
  parameters, the credentials and the extension map in a shared-memory htable;
- sipp runs with parsed ``-trace_stat`` statistics, and CPU time of every process involved.

Everything listens on 127.0.0.1 only, every run is bounded in calls and time, and every process
started here is stopped at the end (also on Ctrl-C and on failure): see :class:`Processes`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
KAMAILIO = "/usr/sbin/kamailio"
DOMAIN = "127.0.0.1"  # SIP domain and digest realm of both servers
FLOOD_EXEMPT = "127.0.0.0/8"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- machine ----------------------------------------------------------------------------------


def machine() -> str:
    model = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    kamailio = subprocess.run(  # noqa: S603
        [KAMAILIO, "-v"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    sipp = subprocess.run(  # noqa: S603
        [SIPP, "-v"], capture_output=True, text=True, check=False
    ).stdout
    sipp_version = re.search(r"SIPp v[\d.]+", sipp)
    load = os.getloadavg()
    return (
        f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, nproc {os.cpu_count()}, "
        f"{model}, Python {platform.python_version()}, "
        f"{kamailio[0].strip() if kamailio else 'kamailio ?'}, "
        f"{sipp_version.group(0) if sipp_version else 'sipp ?'}, "
        f"load average before start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (Kamailio listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                    tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process of a process group (Kamailio forks ~15)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def machine_idle_seconds() -> float:
    """Idle CPU seconds of the whole machine since boot (idle + iowait, from /proc/stat; the
    busy counters are tick samples that miss short bursts, the idle time is measured)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return (values[3] + values[4]) / CLOCK_TICKS


def udp_receive_drops() -> int:
    """Datagrams the kernel dropped because a socket's receive buffer was full (all sockets of
    the machine: Kamailio's, sipp's, anyone's), from /proc/net/snmp."""
    with open("/proc/net/snmp") as handle:
        rows = [line.split() for line in handle if line.startswith("Udp:")]
    return int(dict(zip(rows[0][1:], rows[1][1:], strict=False)).get("RcvbufErrors", 0))


def socket_drops(port: int) -> int:
    """Datagrams dropped by the UDP socket(s) bound to ``port`` (/proc/net/udp ``drops``)."""
    total = 0
    with open("/proc/net/udp") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                total += int(fields[-1])
    return total


def reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- processes --------------------------------------------------------------------------------


class Processes:
    """Every process a benchmark starts, each in its own process group; all stopped at exit."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []
        self.stoppers: list[object] = []

    def start(self, command: list[str], **options: object) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603 (our own commands)
            command, stdin=subprocess.DEVNULL, start_new_session=True, **options
        )
        self.running.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for stopper in reversed(self.stoppers):
            stopper.stop()  # type: ignore[attr-defined]
        for process in reversed(self.running):
            self.stop(process, timeout=5)


def terminate_on_signals() -> None:
    """SIGINT (also when started in the background, where it is inherited as ignored), SIGTERM
    and SIGHUP end the run through the ``finally`` that stops every process."""

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


def run(main: Callable[[], int]) -> None:
    """A benchmark's entry point: its exit code, or 130 after an interruption (by then its
    ``finally`` has stopped every process it started)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupted:
        print(f"interrupted ({interrupted}); every started process was stopped", file=sys.stderr)
        sys.exit(130)


# --- cloudpbx data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Phone:
    username: str
    password: str
    ha1: str
    display: str  # shown to colleagues (internal display name)
    extension: str | None  # the extension this terminal rings for


def setup_django(data_dir: Path) -> None:
    """Point cloudpbx at a fresh SQLite database in ``data_dir`` and migrate it; or, run under
    ``python -m cloudpbx.core.pgserver``, at its throw-away PostgreSQL server."""
    database = os.environ.get("CLOUDPBX_DATABASE_URL", "")
    if not database.startswith("postgres"):
        database = f"sqlite:///{data_dir / 'cloudpbx.sqlite3'}"
    os.environ.update(
        CLOUDPBX_DATA_DIR=str(data_dir),
        CLOUDPBX_DATABASE_URL=database,
        CLOUDPBX_SIP_DOMAIN=DOMAIN,
        CLOUDPBX_SIP_REALM=DOMAIN,
        # Nothing to notify while seeding: Kamailio starts afterwards with empty caches.
        CLOUDPBX_KAMAILIO_RPC_URLS="",
        DJANGO_SETTINGS_MODULE="cloudpbx.settings",
    )
    os.environ.pop("CLOUDPBX_MODE", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    logging.disable(logging.INFO)  # one log line per created terminal otherwise


def seed(phones: int, ringing: int = 0) -> list[Phone]:
    """A tenant with ``phones`` IP phones with generated credentials, through the service
    layer. Phone ``i < ringing`` is the only terminal ringing for extension ``str(200 + i)``."""
    from cloudpbx.extensions.services import create_extension
    from cloudpbx.tenancy.services import create_tenant
    from cloudpbx.terminals.services import create_terminal

    tenant = create_tenant(name="Benchmark GmbH", country="DE")
    created = []
    for index in range(phones):
        rings = []
        if index < ringing:
            rings = [create_extension(tenant, number=str(200 + index), name=f"Desk {index}")]
        terminal = create_terminal(
            tenant,
            name=f"Phone {index}",
            type="ip_phone",
            generate_credentials=True,
            internal_display_name=f"Phone {index}",
            ringing_extensions=rings,
        )
        created.append(
            Phone(
                username=terminal.sip_username,
                password=terminal.sip_password,
                ha1=terminal.sip_ha1,
                display=terminal.internal_display_name,
                extension=rings[0].number if rings else None,
            )
        )
    return created


def write_users(path: Path, phones: Iterable[Phone], dialled: str = "") -> Path:
    """sipp ``-inf`` file: field0 user, field1 domain, field2 password, field3 dialled."""
    lines = ["SEQUENTIAL"] + [f"{p.username};{DOMAIN};{p.password};{dialled}" for p in phones]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- servers ----------------------------------------------------------------------------------


def sip_ping(port: int, timeout: float = 0.3) -> bool:
    """An OPTIONS keepalive: both servers answer it with 200 when they route requests."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        call_id = f"{time.monotonic_ns()}@bench"
        message = (
            f"OPTIONS sip:{DOMAIN}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{time.monotonic_ns()}\r\n"
            f"From: <sip:ping@{DOMAIN}>;tag=bench\r\nTo: <sip:{DOMAIN}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.settimeout(timeout)
        sock.sendto(message.encode(), ("127.0.0.1", port))
        try:
            data = sock.recv(65535)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 200")


def wait_for_sip(port: int, process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not sip_ping(port):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Kamailio on port {port} exited during start-up")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kamailio on port {port} does not answer OPTIONS")
        time.sleep(0.1)


# Relay ports per benchmark relay, apart from each other and from the tests' (31000-31999):
# rtpengine binds with SO_REUSEADDR, so two relays on 127.0.0.1 with overlapping ranges would
# take each other's media and control packets (found by bench/media). Four ports per call.
# 10,000 media ports each (2,500 calls: ~1 s per call at the highest rates); bench/media uses
# the native relay's range: run benchmarks one at a time.
CLOUDPBX_RELAY_PORTS = ((20000, 29899), (29900, 29999))  # (media, ng)
NATIVE_RELAY_PORTS = ((10000, 19899), (19900, 19999))


def free_port_in(low: int, high: int) -> int:
    """A free UDP port in [low, high] (outside the ephemeral range others pick from)."""
    for port in range(low, high + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free UDP port in {low}-{high}")


class MediaRelay:
    """rtpengine as ``cloudpbx run`` starts it (cloudpbx.sip.rtpengine), on its own ports."""

    def __init__(
        self, run_dir: Path, ports: tuple[tuple[int, int], tuple[int, int]] = CLOUDPBX_RELAY_PORTS
    ) -> None:
        from cloudpbx import config as cloudpbx_config
        from cloudpbx.sip import rtpengine

        (media_low, media_high), ng = ports
        self.config = dataclasses.replace(
            cloudpbx_config.load(),
            media_address="127.0.0.1",
            media_ng_port=free_port_in(*ng),
            media_port_min=media_low,
            media_port_max=media_high,
        )
        run_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(run_dir / "rtpengine.log", "w")  # closed in stop()
        self.child = rtpengine.child(self.config, run_dir, output=self.log)

    @property
    def pgid(self) -> int:
        assert self.child.process is not None
        return self.child.process.pid

    def start(self, timeout: float = 30) -> None:
        self.child.start()
        self.child.wait_ready(timeout)

    def alive(self) -> bool:
        return self.child.process is not None and self.child.process.poll() is None

    def stop(self) -> None:
        self.child.stop()
        self.log.close()


class CloudpbxServer:
    """cloudpbx's Kamailio, started by ``cloudpbx.sip.kamailio.child`` as ``cloudpbx run`` does."""

    name = "cloudpbx (Python KEMI)"
    short = "cloudpbx"

    def __init__(
        self,
        processes: Processes,
        run_dir: Path,
        children: int,
        shm_mb: int,
        extra_args: Iterable[str] = (),
    ):
        from cloudpbx import config as cloudpbx_config
        from cloudpbx.core.supervisor import Supervisor
        from cloudpbx.sip import kamailio

        base = cloudpbx_config.load()
        self.config = dataclasses.replace(
            base,
            sip_listen="127.0.0.1",
            sip_domain=DOMAIN,
            sip_realm=DOMAIN,
            sip_port=free_port(),
            sip_rpc_port=free_port(),
            sip_tls_port=free_port(),
            sip_wss_port=free_port(),
            sip_children=children,
            sip_shm_mb=shm_mb,
            # The load generator sends thousands of requests per second from one address.
            sip_flood_exempt=[FLOOD_EXEMPT],
        )
        self.port = self.config.sip_port
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.relay = MediaRelay(run_dir / "rtpengine")
        relay = self.relay.config
        self.config = dataclasses.replace(
            self.config,
            media_address=relay.media_address,
            media_ng_port=relay.media_ng_port,
            media_port_min=relay.media_port_min,
            media_port_max=relay.media_port_max,
        )
        self.log = open(run_dir / "kamailio.log", "w")  # closed in stop()
        self.child = kamailio.child(self.config, run_dir, output=self.log)
        self.child.command += list(extra_args)  # experiments only (e.g. -x tlsf)
        self.supervisor = Supervisor([self.relay.child, self.child])
        processes.stoppers.append(self)

    @property
    def pgid(self) -> int:
        assert self.child.process is not None
        return self.child.process.pid

    def wrap(self, prefix: list[str]) -> None:
        """Run Kamailio under another program (e.g. valgrind): before :meth:`start`."""
        self.child.command = prefix + self.child.command

    def start(self, timeout: float = 30) -> None:
        self.supervisor.start(ready_timeout=timeout)
        wait_for_sip(self.port, self.child.process, timeout=timeout)

    def alive(self) -> bool:
        return self.child.process is not None and self.child.process.poll() is None

    def stop(self) -> None:
        self.supervisor.stop()
        self.log.close()
        self.relay.log.close()


NATIVE_CFG = r"""#!KAMAILIO
# Native baseline for the cloudpbx SIP benchmarks (bench/sip_common.py): the same modules and
# parameters as cloudpbx's generated config, the same checks in the same order as
# cloudpbx.sip.ksr.Router, in Kamailio's own routing language; the directory (HA1 per user,
# extension -> user, display name per user) is an htable loaded from an SQLite table at start.
debug=1
log_stderror=yes
fork=yes
children={children}
tcp_children={children}
auto_aliases=no
alias="{domain}:{port}"
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
server_header="Server: native"
user_agent_header="User-Agent: native"

mpath="{module_dir}"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "db_sqlite.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "nathelper.so"
loadmodule "htable.so"
loadmodule "pike.so"
loadmodule "dialog.so"
loadmodule "topoh.so"
loadmodule "uac.so"
{media_modules}
modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 30000)
modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 1)
# The same usrloc mode as cloudpbx with SQLite: in memory, written back every 10 s.
modparam("usrloc", "db_url", "sqlite:///{usrloc_db}")
modparam("usrloc", "db_mode", 2)
modparam("usrloc", "timer_interval", 10)
modparam("usrloc", "use_domain", 0)
modparam("registrar", "max_contacts", 5)
modparam("registrar", "default_expires", 3600)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "min_expires", 60)
modparam("registrar", "received_avp", "$avp(RECEIVED)")
modparam("registrar", "gruu_enabled", 0)
modparam("auth", "secret", "{nonce_secret}")
modparam("auth", "qop", "auth")
modparam("auth", "nonce_count", 0)
modparam("auth", "one_time_nonce", 1)
modparam("auth", "otn_in_flight_no", 1048576)
modparam("auth", "nonce_expire", 300)
modparam("auth", "auth_checks_register", 8)
modparam("auth", "auth_checks_no_dlg", 9)
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "natping_interval", 30)
modparam("nathelper", "ping_nated_only", 1)
modparam("nathelper", "sipping_bflag", 7)
modparam("nathelper", "sipping_from", "sip:keepalive@{domain}")
modparam("usrloc", "nat_bflag", 6)
modparam("pike", "sampling_time_unit", 2)
modparam("pike", "reqs_density_per_unit", 400)
modparam("pike", "remove_latency", 4)
modparam("htable", "db_url", "sqlite:///{htable_db}")
modparam("htable", "htable", "dir=>size=14;dbtable=htable;")
modparam("htable", "htable", "ipban=>size=10;autoexpire=600;")
modparam("htable", "htable", "userban=>size=10;autoexpire=600;")
modparam("htable", "htable", "authfail=>size=12;autoexpire=600;")
modparam("htable", "htable", "cache=>size=2;")
modparam("htable", "enable_dmq", 0)
modparam("dialog", "enable_stats", 0)
modparam("dialog", "lreq_callee_headers", "TH: dlh\r\n")
modparam("topoh", "mask_key", "{nonce_secret}")
modparam("topoh", "mask_ip", "127.0.0.1")
modparam("topoh", "mask_callid", 1)
modparam("uac", "restore_mode", "auto")
modparam("uac", "restore_dlg", 1)
modparam("uac", "restore_passwd", "{nonce_secret}")

request_route {{
    if ($sht(ipban=>$si) != $null) exit;
    # The flood exemption of the load generator (CLOUDPBX_SIP_FLOOD_EXEMPT in cloudpbx).
    if (!(src_ip == 127.0.0.0/8)) {{
        if (!pike_check_req()) {{ $sht(ipban=>$si) = 1; exit; }}
    }}
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("1511", "7")) exit;
    $var(generation) = $sht(cache=>gen);  # cloudpbx compares its cache generation per request
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{ {media_delete} t_relay(); }}
        exit;
    }}
    if (has_totag()) {{ route(WITHINDLG); exit; }}
    t_check_trans();
    if (is_method("ACK")) exit;
    remove_hf("Route");  # cloudpbx: a preloaded Route never steers an initial request
    if (is_method("REGISTER")) {{ route(REGISTER); exit; }}
    if (is_method("OPTIONS") && $rU == $null) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("INVITE")) {{ route(INVITE); exit; }}
    route(AUTH);
    sl_send_reply("405", "Method Not Allowed");
}}

route[AUTH] {{
    if (is_method("REGISTER")) {{
        if (!is_present_hf("Authorization")) {{ auth_challenge("{domain}", "1"); exit; }}
    }} else {{
        if (!is_present_hf("Proxy-Authorization")) {{ auth_challenge("{domain}", "1"); exit; }}
    }}
    # cloudpbx screens the username before anything else.
    if ($(au{{s.len}}) > 64) {{
        auth_challenge("{domain}", "1");
        exit;
    }}
    $var(ha1) = $sht(dir=>u:$au);
    $var(known) = 1;
    $var(locked) = 0;
    if ($sht(userban=>user:$au@$si) != $null) $var(locked) = 1;
    if ($var(ha1) == $null) {{
        $var(ha1) = "{decoy_ha1}";
        $var(known) = 0;
    }}
    pv_auth_check("{domain}", "$var(ha1)", "1", "1");
    $var(rc) = $rc;
    if ($var(rc) > 0 && $var(known) == 1 && $var(locked) == 0) {{
        consume_credentials();
        return 1;
    }}
    if ($var(rc) == -2) {{
        if ($shtinc(authfail=>ip:$si) > 30) $sht(ipban=>$si) = 1;
        if ($shtinc(authfail=>user:$au@$si) > 10) $sht(userban=>user:$au@$si) = 1;
    }}
    auth_challenge("{domain}", "1");
    exit;
}}

route[REGISTER] {{
    route(AUTH);
    # cloudpbx refuses contacts naming itself or a trunk, and reaches phones at the source.
    if (is_myself("$(ct{{nameaddr.uri}})")) {{
        sl_send_reply("403", "Contact Host Not Allowed");
        exit;
    }}
    fix_nated_register();
    if (nat_uac_test("19")) setbflag(6);
    if (!save("location")) sl_reply_error();
}}

route[INVITE] {{
    route(AUTH);
    $var(callee) = $sht(dir=>x:$rU);
    if ($var(callee) == $null) {{ sl_send_reply("404", "Not Found"); exit; }}
    remove_hf("P-Asserted-Identity");
    remove_hf("P-Preferred-Identity");
    remove_hf("Privacy");
    remove_hf("Remote-Party-ID");
    if (nat_uac_test("19")) set_contact_alias();
    dlg_manage();
    record_route();
    $ru = "sip:" + $var(callee) + "@{domain}";
    if (!lookup("location")) {{ sl_send_reply("480", "Temporarily Unavailable"); exit; }}
    $var(from_display) = $sht(dir=>d:$au);
    $var(from_uri) = "sip:" + $au + "@{domain}";
    t_on_branch("RING");
    t_on_failure("RING");
    t_on_reply("RING");
    if (!t_relay()) sl_reply_error();
}}

branch_route[RING] {{
    uac_replace_from("$var(from_display)", "$var(from_uri)");
    remove_hf("Call-Info");  # cloudpbx strips auto-answer headers toward phones
    remove_hf("Alert-Info");
    remove_hf("Answer-Mode");
    remove_hf("Priv-Answer-Mode");
    {media_branch}
}}

onreply_route[RING] {{
    if (nat_uac_test("1")) set_contact_alias();
    {media_reply}
}}

failure_route[RING] {{
    if (t_is_canceled()) exit;
    {media_delete}
    if (t_check_status("408") || t_branch_timeout()) t_reply("480", "Temporarily Unavailable");
}}

route[WITHINDLG] {{
    if (is_method("ACK") && !is_present_hf("Route")) {{ t_check_trans(); exit; }}
    # cloudpbx relays only inside dialogs it created, along the route it recorded.
    if (loose_route() && is_known_dlg()) {{
        handle_ruri_alias();
        if (is_method("BYE")) {{ {media_delete} }}
        remove_hf("P-Asserted-Identity");
        remove_hf("P-Preferred-Identity");
        remove_hf("Privacy");
        remove_hf("Remote-Party-ID");
        t_relay();
        exit;
    }}
    if (!is_method("ACK")) sl_send_reply("404", "Not Here");
}}
"""


class NativeServer:
    """The ceiling: a native Kamailio config with the same credentials in an htable."""

    name = "native Kamailio (htable)"
    short = "native"

    def __init__(
        self,
        processes: Processes,
        run_dir: Path,
        children: int,
        shm_mb: int,
        phones: list[Phone],
        extra_args: Iterable[str] = (),
        relay: bool = True,
    ):
        import secrets

        from cloudpbx.sip import config as kamailio_config

        if not relay:
            self.name, self.short = "native Kamailio (htable), no media relay", "native-norelay"
        self.relay = MediaRelay(run_dir / "rtpengine", NATIVE_RELAY_PORTS) if relay else None
        self.processes = processes
        self.run_dir = run_dir
        self.port = free_port()
        run_dir.mkdir(parents=True, exist_ok=True)
        usrloc_db = run_dir / "usrloc.sqlite"
        htable_db = run_dir / "htable.sqlite"
        with sqlite3.connect(usrloc_db) as db:
            for script in ("standard-create.sql", "usrloc-create.sql"):
                db.executescript(Path(kamailio_config.SCHEMA_DIRS["sqlite"], script).read_text())
        with sqlite3.connect(htable_db) as db:
            for script in ("standard-create.sql", "htable-create.sql"):
                db.executescript(Path(kamailio_config.SCHEMA_DIRS["sqlite"], script).read_text())
            rows = []
            for phone in phones:
                rows.append((f"u:{phone.username}", phone.ha1))
                rows.append((f"d:{phone.username}", f'"{phone.display}"'))
                if phone.extension:
                    rows.append((f"x:{phone.extension}", phone.username))
            db.executemany(
                "INSERT INTO htable (key_name, key_type, value_type, key_value) "
                "VALUES (?, 0, 0, ?)",
                rows,
            )
        self.config_path = run_dir / "kamailio.cfg"
        self.config_path.write_text(
            NATIVE_CFG.format(
                children=children,
                domain=DOMAIN,
                port=self.port,
                module_dir=kamailio_config.module_dir(),
                usrloc_db=usrloc_db,
                htable_db=htable_db,
                nonce_secret=secrets.token_hex(16),
                decoy_ha1=secrets.token_hex(16),
                **native_media(self.relay),
            )
        )
        # The same command line as cloudpbx's Kamailio (memory managers, buffers, -m, -M),
        # only the config file differs.
        from cloudpbx import config as cloudpbx_config

        files = kamailio_config.KamailioFiles(
            run_dir=run_dir, config=self.config_path, pid_file=run_dir / "kamailio.pid"
        )
        settings = dataclasses.replace(cloudpbx_config.load(), sip_shm_mb=shm_mb)
        self.command = kamailio_config.command(settings, files) + list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        processes.stoppers.append(self)

    @property
    def pgid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wrap(self, prefix: list[str]) -> None:
        """Run Kamailio under another program (e.g. valgrind): before :meth:`start`."""
        self.command = prefix + self.command

    def start(self, timeout: float = 30) -> None:
        if self.relay is not None:
            self.relay.start(timeout)
        log = open(self.run_dir / "kamailio.log", "w")
        with log:
            self.process = subprocess.Popen(  # noqa: S603
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_sip(self.port, self.process, timeout=timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            Processes.stop(self.process)
        if self.relay is not None:
            self.relay.stop()


def native_media(relay: MediaRelay | None) -> dict[str, str]:
    """The native config's media relay lines: what cloudpbx.sip.ksr does, in the same places
    (offer per branch, answer on replies, delete on BYE, CANCEL and failure)."""
    if relay is None:
        # Kamailio's language has no empty blocks: a no-op where a relay call would be.
        return dict(media_modules="", media_branch="", media_reply="", media_delete="$var(m) = 0;")
    flags = "replace-origin replace-session-connection ICE=remove SIP-source-address"
    offer = f'rtpengine_manage("{flags} via-branch=auto-next");'
    socket = f"udp:127.0.0.1:{relay.config.media_ng_port}"
    return dict(
        media_modules=(
            'loadmodule "rtpengine.so"\n'
            f'modparam("rtpengine", "rtpengine_sock", "{socket}")\n'
            'modparam("rtpengine", "rtpengine_tout_ms", 500)\n'
            'modparam("rtpengine", "rtpengine_retr", 1)\n'
        ),
        media_branch=f'if (has_body("application/sdp")) {offer}',
        media_reply=(
            f'if (status =~ "^[12]" && has_body("application/sdp")) {offer} '
            'else if (status =~ "^[3-6]") rtpengine_manage("via-branch=auto-next");'
        ),
        media_delete="rtpengine_manage();",
    )


Server = CloudpbxServer | NativeServer


def options(command: list[str]) -> str:
    """A Kamailio command line without its paths: what the two servers are compared with."""
    kept, skip = [], False
    for argument in command[1:]:
        if skip:
            skip = False
        elif argument in {"-f", "-Y", "-P"}:
            skip = True
        else:
            kept.append(argument)
    return "kamailio " + " ".join(kept)


def describe(servers: list[Server]) -> str:
    return "\n".join(
        f"{server.name}: "
        + options(server.child.command if isinstance(server, CloudpbxServer) else server.command)
        for server in servers
    )


# --- sipp -------------------------------------------------------------------------------------


@dataclass
class SippStats:
    created: int = 0
    successful: int = 0
    failed: int = 0
    retransmissions: int = 0
    out_of_call: int = 0
    dead_call: int = 0
    elapsed: float = 0.0
    response_ms: float = 0.0  # mean of the scenario's response-time measure, if any
    complete: bool = True  # the process ended by itself with its final statistics

    def add(self, other: SippStats) -> None:
        weight = self.successful + other.successful
        if weight:
            self.response_ms = (
                self.response_ms * self.successful + other.response_ms * other.successful
            ) / weight
        self.created += other.created
        self.successful += other.successful
        self.failed += other.failed
        self.retransmissions += other.retransmissions
        self.out_of_call += other.out_of_call
        self.dead_call += other.dead_call
        self.elapsed = max(self.elapsed, other.elapsed)
        self.complete = self.complete and other.complete


def _duration(value: str) -> float:
    """sipp's ``HH:MM:SS:micro`` (or ``…:SS.micro``) as seconds."""
    parts = re.split(r"[:.]", value.strip())
    if len(parts) < 3:
        return 0.0
    hours, minutes, seconds = (int(p) for p in parts[:3])
    micro = int(parts[3]) if len(parts) > 3 else 0
    return hours * 3600 + minutes * 60 + seconds + micro / 1_000_000


def parse_stats(path: Path) -> SippStats:
    """The last line of a ``-trace_stat`` file (cumulative counters, the ``(C)`` columns)."""
    if not path.exists():
        return SippStats(complete=False)
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if len(lines) < 2:
        return SippStats(complete=False)
    header = lines[0].rstrip(";").split(";")
    row = dict(zip(header, lines[-1].rstrip(";").split(";"), strict=False))

    def count(name: str) -> int:
        try:
            return int(row.get(name, "0") or 0)
        except ValueError:
            return 0

    return SippStats(
        created=count("TotalCallCreated"),
        successful=count("SuccessfulCall(C)"),
        failed=count("FailedCall(C)"),
        retransmissions=count("Retransmissions(C)"),
        out_of_call=count("OutOfCallMsgs(C)"),
        dead_call=count("DeadCallMsgs(C)"),
        elapsed=_duration(row.get("ElapsedTime(C)", "")),
        response_ms=_duration(row.get("ResponseTime1(C)", "")) * 1000,
    )


class Sipp:
    """One sipp process with its statistics file (``-trace_stat``), in its own directory."""

    def __init__(
        self,
        processes: Processes,
        work_dir: Path,
        name: str,
        scenario: str,
        server_port: int,
        *,
        local_port: int = 0,
        rate: float = 0,
        calls: int = 0,
        users: Path | None = None,
        timeout: float = 60,
        extra: Iterable[str] = (),
    ) -> None:
        self.processes = processes
        self.dir = work_dir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "scenario.xml").write_text(scenario)
        self.stats_file = self.dir / "stats.csv"
        self.stats_file.unlink(missing_ok=True)
        self.timeout = timeout
        command = [
            SIPP, f"127.0.0.1:{server_port}",
            "-sf", str(self.dir / "scenario.xml"),
            "-i", "127.0.0.1", "-p", str(local_port or free_port()),
            "-trace_stat", "-stf", str(self.stats_file), "-fd", "1",
            "-timeout", f"{int(timeout)}s", "-nostdin",
            "-recv_timeout", "8000", "-max_recv_loops", "10000", "-max_sched_loops", "10000",
            "-buff_size", "8388608",
        ]  # fmt: skip
        if rate:
            command += ["-r", f"{rate:g}", "-rp", "1000"]
        if calls:
            command += ["-m", str(calls)]
        if users is not None:
            command += ["-inf", str(users), "-au", "[field0]", "-ap", "[field2]"]
        self.command = command + list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Sipp:
        self.output = open(self.dir / "screen.log", "w")
        self.process = self.processes.start(
            self.command, stdout=self.output, stderr=subprocess.STDOUT, cwd=self.dir
        )
        return self

    def wait(self, timeout: float | None = None) -> SippStats:
        """Wait for sipp to finish by itself (bounded); killed otherwise, marked incomplete."""
        assert self.process is not None
        complete = True
        try:
            self.process.wait(timeout=self.timeout + 5 if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            complete = False
            Processes.stop(self.process, timeout=2)
        self.output.close()
        stats = parse_stats(self.stats_file)
        stats.complete = stats.complete and complete
        return stats


# --- steps ------------------------------------------------------------------------------------


@dataclass
class Step:
    server: str
    rate: float
    seconds: float  # nominal length of the step (calls = rate x seconds)
    wall: float  # measured, from the first sipp start to the last sipp end
    stats: SippStats
    kamailio_cpu: float  # CPU seconds of all Kamailio processes during the step
    sipp_cpu: float  # CPU seconds of the sipp processes of the step
    machine_busy: float  # busy fraction of all cores during the step (others' jobs included)
    expected: int
    udp_drops: int = 0  # receive-buffer overflows on the machine during the step
    server_drops: int = 0  # of which at the server's SIP socket
    relay_cpu: float = 0.0  # CPU seconds of rtpengine during the step (0: no relay)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def achieved(self) -> float:
        elapsed = max(self.stats.elapsed, self.seconds)
        return self.stats.successful / elapsed if elapsed else 0.0

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def cpu_us_per_call(self) -> float:
        return self.kamailio_cpu / self.stats.successful * 1e6 if self.stats.successful else 0.0

    @property
    def relay_us_per_call(self) -> float:
        return self.relay_cpu / self.stats.successful * 1e6 if self.stats.successful else 0.0


def judge(step: Step) -> None:
    """Clean = 0 failed, 0 retransmissions, every call completed, the rate actually offered."""
    s = step.stats
    if s.failed:
        step.problems.append(f"{s.failed} failed")
    if s.retransmissions:
        step.problems.append(f"{s.retransmissions} retransmissions")
    if not s.complete:
        step.problems.append("sipp did not finish")
    if s.successful < step.expected:
        step.problems.append(f"{step.expected - s.successful} not completed")
    if s.elapsed > step.seconds * 1.1 + 2:
        step.problems.append(f"took {s.elapsed:.1f}s (rate not held)")


class Meter:
    """CPU of a Kamailio process group, of reaped sipp children and of the machine."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.kamailio = group_cpu_seconds(pgid)
        self.children = reaped_children_cpu()
        self.idle = machine_idle_seconds()
        self.drops = udp_receive_drops()
        self.started = time.monotonic()

    def read(self) -> tuple[float, float, float]:
        capacity = (os.cpu_count() or 1) * (time.monotonic() - self.started)
        idle = machine_idle_seconds() - self.idle
        fraction = min(1.0, max(0.0, 1 - idle / capacity)) if capacity else 0.0
        return (
            group_cpu_seconds(self.pgid) - self.kamailio,
            reaped_children_cpu() - self.children,
            fraction,
        )


def table(steps: list[Step], unit: str) -> str:
    head = (
        f"| server | target {unit}/s | ok | achieved/s | failed | retrans | other problems "
        f"| Kamailio CPU (cores) | µs CPU per {unit} | rtpengine µs per {unit} "
        "| sipp CPU (cores) | machine busy | UDP drops (at Kamailio) |"
    )
    lines = [head, "|" + "---|" * 13]
    for step in steps:
        s = step.stats
        others = [p for p in step.problems if "failed" not in p and "retrans" not in p]
        lines.append(
            f"| {step.server} | {step.rate:,.0f} | {'clean' if step.clean else 'NOT clean'} "
            f"| {step.achieved:,.0f} | {s.failed} | {s.retransmissions} "
            f"| {'; '.join(others) or '-'} "
            f"| {step.kamailio_cpu / step.wall:.2f} | {step.cpu_us_per_call:,.0f} "
            f"| {step.relay_us_per_call:,.0f} | {step.sipp_cpu / step.wall:.2f} "
            f"| {step.machine_busy * 100:.0f} % "
            f"| {step.udp_drops} ({step.server_drops}) |"
        )
    return "\n".join(lines)


def summary(steps: list[Step], servers: list[Server], unit: str) -> str:
    best: dict[str, float] = {}
    for server in servers:
        clean = [s.rate for s in steps if s.server == server.short and s.clean]
        best[server.short] = max(clean) if clean else 0.0
    lines = [
        f"highest clean rate, {server.name}: {best[server.short]:,.0f} {unit}/s"
        for server in servers
    ]
    if best.get("native") and "cloudpbx" in best:
        lines.append(f"ratio cloudpbx / native: {best['cloudpbx'] / best['native']:.2f}")
    # CPU per call at the rates both ran cleanly: steadier than the highest rate on 2 shared
    # cores.
    common = sorted(
        {s.rate for s in steps if s.server == "cloudpbx" and s.clean}
        & {s.rate for s in steps if s.server == "native" and s.clean}
    )
    if common:
        ours = [s.cpu_us_per_call for s in steps if s.server == "cloudpbx" and s.rate in common]
        theirs = [s.cpu_us_per_call for s in steps if s.server == "native" and s.rate in common]
        ratio = (sum(ours) / len(ours)) / (sum(theirs) / len(theirs))
        lines.append(
            f"Kamailio CPU per {unit} at the rates both ran clean ({len(common)} rates): "
            f"cloudpbx {sum(ours) / len(ours):,.0f} µs, native {sum(theirs) / len(theirs):,.0f} "
            f"µs, ratio {ratio:.2f}"
        )
    lines += relay_cost(steps, unit)
    return "\n".join(lines)


def relay_cost(steps: list[Step], unit: str) -> list[str]:
    """What anchoring media adds per call: the native config with the relay (its Kamailio and
    rtpengine) against the same config without, at the rates both ran clean."""
    shared = sorted(
        {s.rate for s in steps if s.server == "native" and s.clean}
        & {s.rate for s in steps if s.server == "native-norelay" and s.clean}
    )
    if not shared:
        return []

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    relayed = [s for s in steps if s.server == "native" and s.rate in shared]
    plain = [s for s in steps if s.server == "native-norelay" and s.rate in shared]
    kamailio = mean([s.cpu_us_per_call for s in relayed]) - mean([s.cpu_us_per_call for s in plain])
    relay = mean([s.relay_us_per_call for s in relayed])
    ours = [s.relay_us_per_call for s in steps if s.server == "cloudpbx" and s.rate in shared]
    return [
        f"cost of the media relay per {unit} ({len(shared)} rates, native with vs without): "
        f"Kamailio +{kamailio:,.0f} µs, rtpengine {relay:,.0f} µs"
        + (f" (with cloudpbx: rtpengine {mean(ours):,.0f} µs)" if ours else "")
    ]


def rates(start: int, step: int, maximum: int) -> list[int]:
    return list(range(start or step, maximum + 1, step))


def work_dir(keep: bool) -> Path:
    path = Path(tempfile.mkdtemp(prefix="cloudpbx-sipbench-"))
    if keep:
        print(f"work dir (kept): {path}", file=sys.stderr)
    return path


def measure(
    server: Server,
    rate: float,
    seconds: float,
    uac: list[Sipp],
    expected: int,
    uas: Iterable[Sipp] = (),
) -> Step:
    """Run the load generators of one step against ``server`` (the answering ``uas`` are
    already running) and judge the result."""
    meter = Meter(server.pgid)
    relay = server.relay
    relay_before = group_cpu_seconds(relay.pgid) if relay is not None else 0.0
    server_drops = socket_drops(server.port)
    started = time.monotonic()
    for sipp in uac:
        sipp.start()
    stats = SippStats()
    for sipp in uac:
        stats.add(sipp.wait())
    answering = SippStats()
    for sipp in uas:
        answering.add(sipp.wait(timeout=10))
    wall = time.monotonic() - started
    kamailio_cpu, sipp_cpu, busy = meter.read()
    step = Step(server.short, rate, seconds, wall, stats, kamailio_cpu, sipp_cpu, busy, expected)
    if relay is not None:
        step.relay_cpu = group_cpu_seconds(relay.pgid) - relay_before
    step.udp_drops = udp_receive_drops() - meter.drops
    step.server_drops = socket_drops(server.port) - server_drops
    judge(step)
    if answering.failed or answering.retransmissions:
        step.problems.append(
            f"answering side: {answering.failed} failed, {answering.retransmissions} retrans"
        )
    if not server.alive():
        step.problems.append("Kamailio died")
    return step


def default_children() -> int:
    """The Kamailio worker count ``cloudpbx run`` uses on this machine."""
    from cloudpbx import config as cloudpbx_config

    return cloudpbx_config.load().sip_children


def servers(
    processes: Processes, work: Path, args: argparse.Namespace, phones: list[Phone]
) -> list[Server]:
    """The servers ``--servers`` asks for, with the same children, shm and extra arguments."""
    chosen: list[Server] = []
    extra = args.kamailio_args.split()
    if "cloudpbx" in args.servers.split(","):
        chosen.append(CloudpbxServer(processes, work / "data", args.children, args.shm_mb, extra))
    names = args.servers.split(",")
    if "native" in names:
        chosen.append(
            NativeServer(processes, work / "native", args.children, args.shm_mb, phones, extra)
        )
    if "native-norelay" in names:
        chosen.append(
            NativeServer(
                processes, work / "native-norelay", args.children, args.shm_mb, phones, extra,
                relay=False,
            )
        )  # fmt: skip
    return chosen

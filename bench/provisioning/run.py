"""Provisioning benchmark: authenticated config fetches per second on loopback.

    .venv/bin/python bench/provisioning/run.py [--seconds 10] [--devices 400] [--workers N]

Starts, on free loopback ports and in a throw-away data dir: nginx serving a static file the
size of a rendered Yealink config (the baseline), then the provisioning server the way
``cloudpbx run`` starts it (granian, SQLite in WAL mode; gunicorn for comparison). ``wrk`` then
fetches for a bounded time with a bounded set of requests:

- ``digest``: each request carries a valid Digest answer (nonce fetched once per device,
  nonce count incremented, as a phone that reuses its nonce does); every answer is used once.
- ``trusted_ip``: devices whose trusted network is 127.0.0.0/16; no credentials.
- ``challenge``: requests without credentials (the 401 every new phone gets first).

Needs Debian's ``wrk`` and ``nginx-light``. Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is up
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers at {url}")


def setup_django(data_dir: Path, port: int) -> None:
    os.environ.update(
        CLOUDPBX_DATA_DIR=str(data_dir),
        CLOUDPBX_PUBLIC_URL=f"http://127.0.0.1:{port}",
        DJANGO_SETTINGS_MODULE="bench_settings",
        PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).parent), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
        ),
    )
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ.pop("CLOUDPBX_DATABASE_URL", None)
    os.environ.pop("CLOUDPBX_MODE", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    import logging

    logging.disable(logging.CRITICAL)  # seeding logs a line per terminal


def create_devices(count: int) -> tuple[list[tuple[str, str, str]], list[str], int]:
    """(path, acs username, acs password) per credentials device, paths of trusted-IP
    devices, and the size of one rendered file."""
    from cloudpbx.extensions.services import create_extension
    from cloudpbx.provisioning import testing
    from cloudpbx.tenancy.services import create_tenant
    from cloudpbx.terminals.services import DeviceSettings, create_terminal

    tenant = create_tenant(name="Bench GmbH", country="DE")
    extension = create_extension(tenant, number="10", name="Bench")
    credentials, trusted = [], []
    for n in range(2 * count):
        mode = "credentials" if n < count else "trusted_ip"
        mac = f"805ec0{n:06x}"
        terminal = create_terminal(
            tenant,
            name=f"Phone {n}",
            type="ip_phone",
            config_mode="automatic",
            internal_extension=extension,
            ringing_extensions=[extension],
            device=DeviceSettings(
                manufacturer="yealink",
                model="T54W",
                mac=mac,
                auth_mode=mode,
                trusted_networks=["127.0.0.0/16"] if mode == "trusted_ip" else [],
            ),
        )
        path = testing.phone_request("yealink", "T54W", mac).path
        device = terminal.device
        assert device is not None
        if mode == "credentials":
            credentials.append((path, device.acs_username or "", device.acs_password))
        else:
            trusted.append(path)
    from cloudpbx.provisioning import build, render
    from cloudpbx.provisioning.models import ProvisioningDevice
    from cloudpbx.provisioning.vendors import VENDORS

    sample = ProvisioningDevice.objects.select_related(*build.RELATED).first()
    assert sample is not None
    vendor = VENDORS["yealink"]
    model = vendor.model("T54W")
    assert model is not None
    size = len(render.render_device(vendor, model, "device.cfg.j2", build.phone_config(sample)))
    return credentials, trusted, size


def user_agent(path: str) -> str:
    mac = path.rsplit("/", 1)[1][:12]
    return "Yealink SIP-T54W 96.86.0.100 " + ":".join(re.findall("..", mac))


def digest_entries(
    base: str, devices: list[tuple[str, str, str]], per_device: int
) -> list[tuple[str, str, str]]:
    from cloudpbx.provisioning import testing

    challenges = []
    for path, username, password in devices:
        request = urllib.request.Request(base + path, headers={"User-Agent": user_agent(path)})  # noqa: S310 - loopback only
        try:
            urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback only
            raise SystemExit("expected a 401 challenge")
        except urllib.error.HTTPError as error:
            challenges.append((path, username, password, error.headers["WWW-Authenticate"]))
    entries = []
    for nc in range(1, per_device + 1):  # round robin: a device's next count comes much later
        for path, username, password, challenge in challenges:
            authorization = testing.digest_authorization(
                challenge, username, password, "GET", path, nc=nc, cnonce="bench"
            )
            entries.append((path, authorization, user_agent(path)))
    return entries


def write_lua(path: Path, entries: list[tuple[str, str, str]]) -> None:
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["entries = {"]
    lines += [f"{{{quote(p)}, {quote(a)}, {quote(u)}}}," for p, a, u in entries]
    lines.append("}")
    lines.append(
        """
local started = 0
function setup(thread)
  thread:set("offset", started)
  started = started + 1
end
function init(args)
  step = tonumber(args[1])
  i = offset
end
function request()
  local e = entries[(i % #entries) + 1]
  i = i + step
  -- A new connection per fetch, like a phone (and gunicorn's sync workers) for every server.
  local headers = {["User-Agent"] = e[3], ["Connection"] = "close"}
  if e[2] ~= "" then headers["Authorization"] = e[2] end
  return wrk.format("GET", e[1], headers)
end
"""
    )
    path.write_text("\n".join(lines))


def run_wrk(
    url: str, script: Path | None, seconds: int, threads: int, connections: int
) -> dict[str, float]:
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    command += [url]
    if script is not None:
        command += ["--", str(threads)]
    output = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    return {
        "rate": rate,
        "total": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",  # type: ignore[dict-item]
        "p50": p50.group(1) if p50 else "",  # type: ignore[dict-item]
        "p99": p99.group(1) if p99 else "",  # type: ignore[dict-item]
    }


@contextlib.contextmanager
def nginx(directory: Path, size: int):  # type: ignore[no-untyped-def]
    port = free_port()
    (directory / "www").mkdir(parents=True)
    (directory / "tmp").mkdir()
    for path in (directory.parent, directory, directory / "www"):
        path.chmod(0o755)  # nginx's workers run as another user
    (directory / "www" / "805ec0000000.cfg").write_bytes(b"#" * size)
    (directory / "www" / "805ec0000000.cfg").chmod(0o644)
    scratch = directory / "tmp"
    config = directory / "nginx.conf"
    config.write_text(
        f"""
daemon off;
worker_processes auto;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_timeout 0;
    client_body_temp_path {scratch};
    proxy_temp_path {scratch};
    fastcgi_temp_path {scratch};
    uwsgi_temp_path {scratch};
    scgi_temp_path {scratch};
    server {{
        listen 127.0.0.1:{port};
        root {directory}/www;
        default_type text/plain;
    }}
}}
"""
    )
    process = subprocess.Popen(  # noqa: S603
        [NGINX, "-c", str(config), "-p", str(directory)], stderr=subprocess.DEVNULL
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/805ec0000000.cfg")
        yield f"http://127.0.0.1:{port}/805ec0000000.cfg"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def app_server(port: int, workers: int, server: str):  # type: ignore[no-untyped-def]
    if server == "gunicorn":
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "cloudpbx.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ]  # fmt: skip  (the command of ``cloudpbx run``)
    else:
        command = [
            sys.executable, "-m", "granian", "--interface", "wsgi", "cloudpbx.wsgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--blocking-threads", "1", "--no-ws",
        ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/prov/y000000000096.cfg")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--devices", type=int, default=400, help="per mode; even")
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--servers",
        default="granian",
        help="comma-separated: granian (as `cloudpbx run` starts it), gunicorn (if installed)",
    )
    parser.add_argument(
        "--connections-mode",
        default="per-request,persistent",
        help="SQLite connections: per-request (the project setting today), persistent, or both",
    )
    arguments = parser.parse_args()
    for tool in (WRK, NGINX):
        if not Path(tool).exists():
            raise SystemExit(f"{tool} is missing: apt-get install wrk nginx-light")
    sys.path.insert(0, str(ROOT / "src"))
    threads, seconds, connections = arguments.threads, arguments.seconds, arguments.connections

    with tempfile.TemporaryDirectory(prefix="prov-bench-") as temp:
        directory = Path(temp)
        port = free_port()
        setup_django(directory / "data", port)
        print(f"seeding {arguments.devices} Digest and {arguments.devices} trusted-IP devices…")
        credentials, trusted, size = create_devices(arguments.devices)
        results: dict[str, dict[str, float]] = {}
        with nginx(directory / "nginx", size) as static_url:
            write_lua(directory / "static.lua", [("/805ec0000000.cfg", "", "bench")])
            results["nginx static file"] = run_wrk(
                static_url, directory / "static.lua", seconds, threads, connections
            )
        write_lua(directory / "trusted.lua", [(p, "", user_agent(p)) for p in trusted])
        challenges = [(p, "", user_agent(p)) for p, _user, _password in credentials]
        write_lua(directory / "challenge.lua", challenges)
        for server in arguments.servers.split(","):
            workers = arguments.workers if server == "gunicorn" else os.cpu_count() or 1
            for mode in arguments.connections_mode.split(","):
                os.environ["BENCH_PERSISTENT_CONNECTIONS"] = "1" if mode == "persistent" else "0"
                label = f"{server} x{workers}, {mode}"
                print(f"measuring {label}…")
                with app_server(port, workers, server) as base:
                    # Single-use answers for 3,000 fetches/s; more would be replays (401).
                    per_device = max(1, (3000 * seconds) // len(credentials) + 1)
                    write_lua(
                        directory / "digest.lua", digest_entries(base, credentials, per_device)
                    )
                    for name, script in (
                        ("digest", "digest.lua"),
                        ("trusted_ip", "trusted.lua"),
                        ("challenge (401)", "challenge.lua"),
                    ):
                        results[f"{label}: {name}"] = run_wrk(
                            base, directory / script, seconds, threads, connections
                        )

    baseline = results["nginx static file"]["rate"]
    print()
    print(f"date: {datetime.date.today()}  machine: {platform.node()} {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")  # fmt: skip
    print(f"file size {size} bytes; wrk -t{threads} -c{connections} -d{seconds}s, "
          "a new connection per request for every server")  # fmt: skip
    print(f"{'run':<48} {'req/s':>7} {'of nginx':>9} {'p50':>9} {'p99':>9} {'non-2xx':>8}")
    for name, result in results.items():
        ratio = result["rate"] / baseline if baseline else 0
        print(
            f"{name:<48} {result['rate']:>7.0f} {ratio:>8.1%} {result['p50']:>9} "
            f"{result['p99']:>9} {result['non_2xx']:>8}"
        )
        if result["socket_errors"]:
            print(f"{'':<48} socket errors: {result['socket_errors']}")


if __name__ == "__main__":
    main()

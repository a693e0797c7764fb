"""Kamailio as a supervised child: the same start-up for ``cloudpbx run`` and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from cloudpbx.config import Config
from cloudpbx.core.supervisor import Child
from cloudpbx.sip import kamailio_config, rpc


def rpc_url(config: Config) -> str:
    return f"http://{config.sip_rpc_listen}:{config.sip_rpc_port}/RPC"


def answers(config: Config, timeout: float) -> str | None:
    """None when Kamailio answers its RPC, else why not."""
    try:
        rpc.call(
            rpc_url(config), "core.version", token=rpc.token(config.secret_key), timeout=timeout
        )
    except rpc.NotRunning:
        return "not running"
    except rpc.RpcError as error:  # why, without the RPC's URL (health answers strangers)
        return str(error.__cause__ or error)
    return None


def child(config: Config, run_dir: Path, output: IO[str] | None = None) -> Child:
    files = kamailio_config.KamailioFiles(
        run_dir=run_dir, config=run_dir / "kamailio.cfg", pid_file=run_dir / "kamailio.pid"
    )

    def prepare() -> None:
        kamailio_config.write(config, run_dir)

    def ready() -> bool:
        return answers(config, timeout=0.5) is None

    return Child(
        name="kamailio",
        command=kamailio_config.command(config, files),
        env=kamailio_config.environment(config),
        prepare=prepare,
        ready=ready,
        output=output,
    )

"""Run child processes, restart the ones that die, stop all of them cleanly.

Used by ``cloudpbx run`` (web server + Kamailio) and by the integration tests, so the tests run
Kamailio exactly as production does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

logger = logging.getLogger(__name__)

RESTART_BACKOFF_SECONDS = (1, 2, 5, 10, 30)
STABLE_AFTER_SECONDS = 60


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str] | None = None
    prepare: Callable[[], None] | None = None  # run before every (re)start
    ready: Callable[[], bool] | None = None  # polled after start
    output: IO[str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0
    failures: int = 0
    restart_at: float = 0.0

    def start(self) -> None:
        if self.prepare:
            self.prepare()
        self.process = subprocess.Popen(  # noqa: S603 (our own commands)
            self.command,
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output else None,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, not the children
        )
        self.started_at = time.monotonic()
        logger.info("started %s (pid %s)", self.name, self.process.pid)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.ready and not self.ready():
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s")
            time.sleep(0.1)

    def kill_leftovers(self) -> None:
        """After the main process died: kill what is left of its process group (Kamailio's
        workers survive their main process and would keep the SIP port from the restart)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        logger.info("stopped %s", self.name)


class Supervisor:
    def __init__(self, children: list[Child], tick: Callable[[], None] | None = None) -> None:
        self.children = children
        self.stopping = False
        self.tick = tick  # called from the watch loop (several times a second)

    def start(self, ready_timeout: float = 30.0) -> None:
        try:
            for child in self.children:
                child.start()
                child.wait_ready(ready_timeout)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            child.stop()

    def watch(self) -> None:
        """Restart children that die (with back-off) until :meth:`stop` is called."""
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                process = child.process
                if process is None or process.poll() is None or self.stopping:
                    continue
                if child.restart_at == 0.0:
                    child.kill_leftovers()
                    lived = now - child.started_at
                    child.failures = 0 if lived > STABLE_AFTER_SECONDS else child.failures + 1
                    delay = RESTART_BACKOFF_SECONDS[
                        min(child.failures, len(RESTART_BACKOFF_SECONDS) - 1)
                    ]
                    child.restart_at = now + delay
                    logger.warning(
                        "%s exited (%s); restarting in %ss", child.name, process.returncode, delay
                    )
                elif now >= child.restart_at:
                    child.restart_at = 0.0
                    try:
                        child.start()
                    except OSError:
                        logger.exception("could not restart %s", child.name)
            if self.tick is not None and not self.stopping:
                try:
                    self.tick()
                except Exception:
                    logger.exception("supervisor tick failed")
            time.sleep(0.2)

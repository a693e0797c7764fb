"""``cloudpbx jobs`` (the child ``cloudpbx run`` supervises) works the queue the portal fills:
a redirect registration queued by a saved terminal is done by the worker process, also when
the worker running it is killed (issue 15)."""

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from django.conf import settings

from cloudpbx import config
from cloudpbx.provisioning.models import RedirectRegistration, RedirectSettings
from cloudpbx.provisioning.services import redirect_registrations
from cloudpbx.provisioning.tests import fakes
from cloudpbx.terminals.services import DeviceSettings, create_terminal

from .processes import database_url


@pytest.fixture
def start_worker(transactional_db, queued_jobs):
    """Starts ``cloudpbx jobs`` processes (each with its log as ``.log``); stops them after."""
    env = os.environ | config.to_environment(
        dataclasses.replace(settings.CONFIG, database_url=database_url())
    )
    started = []

    def start():
        log = tempfile.NamedTemporaryFile("w+", prefix="jobs-", suffix=".log")
        process = subprocess.Popen(
            [sys.executable, "-m", "cloudpbx", "jobs", "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log = log
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(15)
        process.log.close()


def output_of(worker) -> str:
    worker.log.seek(0)
    return worker.log.read()


def yealink_desk(tenant, fake) -> None:
    """A Yealink phone saved for automatic configuration: queues its YMCS registration."""
    row = RedirectSettings(
        manufacturer="yealink", service="ymcs", account=fakes.CLIENT_ID, base_url=fake.url
    )
    row.set_secret(fakes.CLIENT_SECRET)
    redirect_registrations.save_settings(row)
    create_terminal(
        tenant,
        name="Desk",
        type="ip_phone",
        config_mode="automatic",
        device=DeviceSettings("yealink", "T54W", "80:5e:c0:11:22:33"),
    )


def finished_registration(worker) -> RedirectRegistration:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = RedirectRegistration.objects.filter(mac="805ec0112233").first()
        if found is not None and found.status != "pending":
            return found
        time.sleep(0.2)
    raise AssertionError(f"still pending after 30 s: {output_of(worker)[-3000:]}")


def test_the_worker_registers_a_phone_queued_by_the_portal(tenant, start_worker):
    worker = start_worker()
    with fakes.ymcs() as fake:
        yealink_desk(tenant, fake)
        found = finished_registration(worker)
        output = output_of(worker)
        assert found.status == "done", output[-3000:]
        assert "805ec0112233" in fake.devices
        assert fakes.CLIENT_SECRET not in output

    worker.send_signal(signal.SIGTERM)  # as the supervisor stops it
    assert worker.wait(15) == 0


def test_a_job_running_when_its_worker_is_killed_is_done_by_the_next_worker(tenant, start_worker):
    with fakes.ymcs() as fake:
        fake.hold_next = 1  # the job's first request: unanswered while the worker dies
        yealink_desk(tenant, fake)
        worker = start_worker()
        assert fake.holding.wait(30), output_of(worker)[-3000:]
        worker.kill()  # SIGKILL, mid-job: huey had already taken it off the queue
        worker.wait(15)
        fake.release.set()
        assert RedirectRegistration.objects.get(mac="805ec0112233").status == "pending"

        successor = start_worker()
        found = finished_registration(successor)
        output = output_of(successor)
        assert found.status == "done", output[-3000:]
        assert "805ec0112233" in fake.devices
        assert "was running when the worker stopped: queued again" in output

"""``cloudpbx jobs`` (the child ``cloudpbx run`` supervises) works the queue the portal fills:
a redirect registration queued by a saved terminal is done by the worker process."""

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
from cloudpbx.provisioning.tests import fakes
from cloudpbx.terminals.services import DeviceSettings, create_terminal

from .processes import database_url


@pytest.fixture
def worker(transactional_db, queued_jobs):
    env = os.environ | config.to_environment(
        dataclasses.replace(settings.CONFIG, database_url=database_url())
    )
    log = tempfile.NamedTemporaryFile("w+", prefix="jobs-", suffix=".log")
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudpbx", "jobs", "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log = log
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    log.close()


def test_the_worker_registers_a_phone_queued_by_the_portal(tenant, worker):
    with fakes.ymcs() as fake:
        row = RedirectSettings(
            manufacturer="yealink", service="ymcs", account=fakes.CLIENT_ID, base_url=fake.url
        )
        row.set_secret(fakes.CLIENT_SECRET)
        row.save()
        create_terminal(
            tenant,
            name="Desk",
            type="ip_phone",
            config_mode="automatic",
            device=DeviceSettings("yealink", "T54W", "80:5e:c0:11:22:33"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = RedirectRegistration.objects.filter(mac="805ec0112233").first()
            if found is not None and found.status != "pending":
                break
            time.sleep(0.2)
        worker.log.seek(0)
        output = worker.log.read()
        assert found is not None and found.status == "done", output[-3000:]
        assert "805ec0112233" in fake.devices
        assert fakes.CLIENT_SECRET not in output

    worker.send_signal(signal.SIGTERM)  # as the supervisor stops it
    assert worker.wait(15) == 0

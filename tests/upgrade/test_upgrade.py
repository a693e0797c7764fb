"""An upgrade as an operator makes it: a database at the previous release's migrations, with
customers, phones and numbers in it, then ``cloudpbx migrate`` (what ``cloudpbx run`` does at
start) to this version. ``previous_release.json`` names that state; move it on at each release."""

import json
import subprocess
import sys
from pathlib import Path

from tests.test_cli import run_environment
from tests.upgrade.steps import PREVIOUS


def in_process(env, step):
    """Run one of :mod:`tests.upgrade.steps` in a process of its own on that database."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.upgrade.steps", step], env=env, capture_output=True,
        text=True, timeout=300, check=False, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_previous_release_upgrades_with_its_data(tmp_path):
    env = run_environment(tmp_path)
    assert in_process(env, "previous") == {"at": PREVIOUS["migrations"]}
    subprocess.run(
        [sys.executable, "-m", "cloudpbx", "migrate", "--no-input"], env=env, check=True,
        capture_output=True, timeout=300,
    )  # fmt: skip
    assert in_process(env, "check") == {
        "tenant": "Alte Firma",
        "terminals": ["Empfang", "Lager"],
        "number": "+493012345600",
        # provisioning 0006: the device belongs to its terminal's customer; the phone that
        # had fetched its file counts as proven (bound), the one that never had does not.
        "devices": [["805ec0aabbcc", "Alte Firma", True], ["805ec0aabbcd", "Alte Firma", False]],
        "pending": [],
    }

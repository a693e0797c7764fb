"""The systemd unit and its settings template in deploy/systemd/, checked as systemd and
cloudpbx would read them (no systemd runs here: `systemd-analyze` reads the files offline)."""

import re
import subprocess
from pathlib import Path

import pytest

from cloudpbx import config

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "systemd" / "cloudpbx.service"
TEMPLATE = ROOT / "deploy" / "systemd" / "cloudpbx.env.example"


@pytest.fixture
def unit(tmp_path):
    """The unit as installed from this checkout (its ExecStart must exist for verify)."""
    installed = tmp_path / "cloudpbx.service"
    installed.write_text(UNIT.read_text().replace("/opt/cloudpbx", str(ROOT)))
    return installed


def test_systemd_accepts_the_unit_without_a_warning(unit):
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_unit_is_hardened(unit):
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", done.stdout)
    assert found, done.stdout + done.stderr
    # 0 is a sandbox, 10 no protection at all; "OK" is systemd's best band below 2.0...
    assert float(found[1]) <= 2.0 and found[2] == "OK", found[0]


def test_the_settings_template_names_real_settings_accepted_in_production(tmp_path, monkeypatch):
    read = set(
        re.findall(r'"(CLOUDPBX_[A-Z0-9_]+)"', (ROOT / "src/cloudpbx/config.py").read_text())
    )
    lines = TEMPLATE.read_text().splitlines()
    named = {m[1] for line in lines if (m := re.match(r"#?(CLOUDPBX_[A-Z0-9_]+)=", line))}
    assert named and named <= read, named - read
    for line in lines:
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            monkeypatch.setenv(name, value)
    # What the operator fills in: the server key; the data dir comes from the unit.
    monkeypatch.setenv("CLOUDPBX_SECRET_KEY", "k" * 50)
    monkeypatch.setenv("CLOUDPBX_DATA_DIR", str(tmp_path))
    loaded = config.load()
    assert loaded.production
    assert loaded.public_web_url == "https://pbx.example.com"
    assert loaded.sip_transport == "tls"

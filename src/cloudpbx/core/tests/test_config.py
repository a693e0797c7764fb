import dataclasses
import os
import stat

import pytest

from cloudpbx import config


def test_embedded_mode_generates_the_server_key_once_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("CLOUDPBX_SECRET_KEY", raising=False)
    monkeypatch.delenv("CLOUDPBX_DATABASE_URL", raising=False)
    monkeypatch.setenv("CLOUDPBX_DATA_DIR", str(tmp_path))
    first = config.load()
    second = config.load()
    key_file = tmp_path / "secret_key"
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.database_url == f"sqlite:///{tmp_path / 'cloudpbx.sqlite3'}"


@pytest.mark.parametrize(
    ("environment", "complaint"),
    [
        ({}, "CLOUDPBX_SECRET_KEY is required"),
        ({"CLOUDPBX_SECRET_KEY": "short"}, "at least 40"),
        ({"CLOUDPBX_SECRET_KEY": "k" * 50}, "CLOUDPBX_ALLOWED_HOSTS"),
        (
            {"CLOUDPBX_SECRET_KEY": "k" * 50, "CLOUDPBX_ALLOWED_HOSTS": "*"},
            "CLOUDPBX_ALLOWED_HOSTS",
        ),
        (
            {"CLOUDPBX_SECRET_KEY": "k" * 50, "CLOUDPBX_ALLOWED_HOSTS": "pbx.example.com"},
            "https://",
        ),
    ],
)
def test_production_mode_refuses_unsafe_settings(monkeypatch, tmp_path, environment, complaint):
    for name in ("CLOUDPBX_SECRET_KEY", "CLOUDPBX_ALLOWED_HOSTS", "CLOUDPBX_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDPBX_MODE", "production")
    monkeypatch.setenv("CLOUDPBX_DATA_DIR", str(tmp_path))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=complaint):
        config.load()
    assert not (tmp_path / "secret_key").exists()


def test_production_mode_with_safe_settings(monkeypatch):
    monkeypatch.setenv("CLOUDPBX_MODE", "production")
    monkeypatch.setenv("CLOUDPBX_SECRET_KEY", "k" * 50)
    monkeypatch.setenv("CLOUDPBX_ALLOWED_HOSTS", "pbx.example.com")
    monkeypatch.setenv("CLOUDPBX_PUBLIC_URL", "https://pbx.example.com")
    monkeypatch.setenv("CLOUDPBX_DATABASE_URL", "postgres://u@db/pbx")
    loaded = config.load()
    assert loaded.production
    assert loaded.allowed_hosts == ["pbx.example.com"]
    assert loaded.database_url == "postgres://u@db/pbx"


def test_bad_integer_is_reported_by_name(monkeypatch):
    monkeypatch.setenv("CLOUDPBX_SIP_PORT", "fivethousand")
    with pytest.raises(config.ConfigError, match="CLOUDPBX_SIP_PORT"):
        config.load()


def test_settings_travel_to_a_child_process_unchanged(monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUDPBX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CLOUDPBX_SIP_PORT", "15060")
    monkeypatch.setenv("CLOUDPBX_TRUSTED_PROXIES", "10.0.0.1,10.0.0.2")
    original = config.load()
    for name in list(os.environ):
        if name.startswith("CLOUDPBX_"):
            monkeypatch.delenv(name)
    for name, value in config.to_environment(original).items():
        monkeypatch.setenv(name, value)
    assert config.load() == original
    every_field = {field.name for field in dataclasses.fields(original)} - {"production"}
    assert every_field == set(config.ENVIRONMENT_NAMES)

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


SAFE = {
    "CLOUDPBX_SECRET_KEY": "k" * 50,
    "CLOUDPBX_ALLOWED_HOSTS": "pbx.example.com",
    "CLOUDPBX_PUBLIC_URL": "https://pbx.example.com",
    "CLOUDPBX_TLS_CERTIFICATE": "/etc/letsencrypt/live/pbx.example.com/fullchain.pem",
    "CLOUDPBX_TLS_KEY": "/etc/letsencrypt/live/pbx.example.com/privkey.pem",
}


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
        (
            {**SAFE, "CLOUDPBX_HTTPS_PORT": "0"},
            "plain HTTP only: in production, name the TLS reverse proxy",
        ),
        ({**SAFE, "CLOUDPBX_TLS_CERTIFICATE": ""}, "CLOUDPBX_TLS_CERTIFICATE and CLOUDPBX_TLS_KEY"),
        ({**SAFE, "CLOUDPBX_TLS_KEY": ""}, "go together"),
        ({**SAFE, "CLOUDPBX_SIP_TRANSPORT": "udp"}, "CLOUDPBX_SIP_PLAIN_PHONES refuses"),
    ],
)
def test_production_mode_refuses_unsafe_settings(monkeypatch, tmp_path, environment, complaint):
    for name in SAFE:
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
    for name, value in SAFE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLOUDPBX_DATABASE_URL", "postgres://u@db/pbx")
    loaded = config.load()
    assert loaded.production
    assert loaded.allowed_hosts == ["pbx.example.com"]
    assert loaded.database_url == "postgres://u@db/pbx"
    # Encrypted by default: phones told TLS, no plain SIP for phones, no plain-HTTP /prov/.
    assert loaded.sip_transport == "tls"
    assert not loaded.sip_plain_phones
    assert not loaded.prov_plain_http


def test_production_mode_behind_a_tls_proxy_or_with_opt_ins(monkeypatch):
    monkeypatch.setenv("CLOUDPBX_MODE", "production")
    for name, value in SAFE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLOUDPBX_HTTPS_PORT", "0")
    monkeypatch.setenv("CLOUDPBX_TRUSTED_PROXIES", "10.0.0.1")
    monkeypatch.setenv("CLOUDPBX_SIP_TRANSPORT", "udp")
    monkeypatch.setenv("CLOUDPBX_SIP_PLAIN_PHONES", "on")
    monkeypatch.setenv("CLOUDPBX_PROV_PLAIN_HTTP", "on")
    loaded = config.load()
    assert (loaded.https_port, loaded.sip_transport) == (0, "udp")
    assert loaded.sip_plain_phones and loaded.prov_plain_http


def test_embedded_mode_serves_https_beside_plain_http(monkeypatch, tmp_path):
    for name in SAFE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDPBX_DATA_DIR", str(tmp_path))
    loaded = config.load()
    assert loaded.public_web_url == "https://127.0.0.1:8443"
    assert (loaded.tls_certificate, loaded.tls_key) == ("", "")  # the embedded CA's
    assert loaded.sip_plain_phones and loaded.prov_plain_http


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


def test_the_node_is_named_after_the_host_unless_told(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("CLOUDPBX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CLOUDPBX_NODE_NAME", raising=False)
    assert config.load().node_name == socket.gethostname()
    monkeypatch.setenv("CLOUDPBX_NODE_NAME", "node-b.example")
    assert config.load().node_name == "node-b.example"
    for wrong in ("node b", "-b", "b/../a", "n" * 64):
        monkeypatch.setenv("CLOUDPBX_NODE_NAME", wrong)
        with pytest.raises(config.ConfigError, match="CLOUDPBX_NODE_NAME"):
            config.load()


def test_kamailio_rpc_listens_on_loopback_unless_another_node_must_reach_it(monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUDPBX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CLOUDPBX_KAMAILIO_RPC_URLS", raising=False)
    loaded = config.load()
    assert (loaded.sip_rpc_listen, loaded.sip_rpc_peers) == ("127.0.0.1", [])
    monkeypatch.setenv("CLOUDPBX_SIP_RPC_LISTEN", "10.0.0.11")
    monkeypatch.setenv("CLOUDPBX_SIP_RPC_PEERS", "10.0.0.0/24, 10.0.1.5")
    loaded = config.load()
    assert loaded.sip_rpc_peers == ["10.0.0.0/24", "10.0.1.5"]
    assert loaded.kamailio_rpc_urls == ["http://10.0.0.11:5071/RPC"]  # its own, by default
    every_address = "0.0.0.0"  # noqa: S104 (refused, the point of the test)
    for name, wrong in (
        ("CLOUDPBX_SIP_RPC_LISTEN", every_address),
        ("CLOUDPBX_SIP_RPC_PEERS", "lan"),
    ):
        monkeypatch.setenv(name, wrong)
        with pytest.raises(config.ConfigError, match=name):
            config.load()
        monkeypatch.setenv(name, "10.0.0.11" if name.endswith("LISTEN") else "10.0.0.0/24")

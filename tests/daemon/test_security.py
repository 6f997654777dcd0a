"""The loopback rule and the [security] table, without a daemon."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from daemon.config import Config, load_config
from daemon.errors import ConfigError
from daemon.service import keys
from daemon.service.security import check_exposure, is_local_endpoint, is_loopback_host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "*", "::", "[::]", "192.168.1.10", "eth0", "lo", "example.com", ""])
def test_hosts_that_count_as_remote(host: str) -> None:
    assert not is_loopback_host(host)


def test_endpoints() -> None:
    assert is_local_endpoint("ipc:///run/lodestone/rpc.sock") and is_local_endpoint("inproc://x")
    assert is_local_endpoint("tcp://127.0.0.1:*") and is_local_endpoint("tcp://[::1]:5555")
    assert not is_local_endpoint("tcp://*:5555") and not is_local_endpoint("tcp://10.0.0.2:5555")


def test_curve_guards_rpc_and_pub_but_never_metrics(caplog: pytest.LogCaptureFixture) -> None:
    check_exposure(Config(rpc="tcp://0.0.0.0:5555", curve=True))
    with pytest.raises(ConfigError, match=r"metrics 0.0.0.0:9464 .*no authentication.*bind it to 127.0.0.1"):
        check_exposure(Config(curve=True, metrics="0.0.0.0:9464"))
    with pytest.raises(ConfigError, match=r"^rpc tcp://\*:1 and pub tcp://\*:2 would listen beyond loopback"):
        check_exposure(Config(rpc="tcp://*:1", pub="tcp://*:2"))
    with caplog.at_level(logging.WARNING):
        check_exposure(Config(rpc="tcp://*:1", metrics="[::]:9464", insecure_remote=True))
    assert "insecure_remote: rpc tcp://*:1 and metrics [::]:9464 listen beyond loopback" in caplog.text


def test_a_bare_metrics_port_means_loopback() -> None:
    assert load_config(None, {}, {"LODESTONE_METRICS": "9464"}).metrics == "9464"
    check_exposure(Config(metrics="9464"))


def test_the_security_table_from_the_file_and_the_environment(tmp_path: Path) -> None:
    key = keys.create_pair(tmp_path, "plugin").public
    path = tmp_path / "lodestone.toml"
    path.write_text(f'[security]\ncurve = true\nclient_keys = ["{key}"]\n')
    config = load_config(path, {}, {"LODESTONE_SECURITY_INSECURE_REMOTE": "true"})
    assert config.curve and config.curve_client_keys == (key,) and config.insecure_remote
    with pytest.raises(ConfigError, match="is not a CURVE public key"):
        load_config(None, {}, {"LODESTONE_SECURITY_CLIENT_KEYS": '["short"]'})
    path.write_text("[security]\ncurv = true\n")
    with pytest.raises(ConfigError, match=r"\[security\] takes only"):
        load_config(path, {}, {})


def test_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    pair = keys.create_pair(tmp_path / "k", "plugin")
    secret = tmp_path / "k" / "plugin.key_secret"
    assert secret.stat().st_mode & 0o777 == 0o600 and (tmp_path / "k").stat().st_mode & 0o777 == 0o700
    assert keys.read_pair(secret) == pair
    assert keys.read_pair(tmp_path / "k" / "plugin.key").public == pair.public
    with pytest.raises(FileExistsError):
        keys.create_pair(tmp_path / "k", "plugin")
    secret.chmod(0o604)
    with pytest.raises(ConfigError, match=f"chmod 600 {secret}"):
        keys.read_pair(secret)
    with pytest.raises(ValueError, match="cannot name a key"):
        keys.create_pair(tmp_path / "k", "../escape")

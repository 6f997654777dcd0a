"""Configuration: sources in order, and a sentence for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.cli import EXIT_CONFIG, main
from daemon.config import Config, load_config, metrics_address, reloaded
from daemon.errors import ConfigError
from daemon.runtime.classes import load_classes


def test_defaults_are_loopback_and_a_local_data_dir() -> None:
    config = load_config(None, {}, {})
    assert config == Config()
    assert config.rpc.startswith("tcp://127.0.0.1:") and config.pub.startswith("tcp://127.0.0.1:")


def test_state_directory_then_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "lodestone.toml"
    path.write_text('rpc = "ipc://x.sock"\nlog_level = "DEBUG"\n[classes]\ndeclared = ["Agent"]\n')
    config = load_config(path, {"pub": "tcp://127.0.0.1:7000", "rpc": None}, {"STATE_DIRECTORY": "/srv/ls"})
    assert config.data_dir == Path("/srv/ls") and config.rpc == "ipc://x.sock"
    assert config.pub == "tcp://127.0.0.1:7000" and config.log_level == "debug"
    assert config.declared_classes == ("Agent",)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("rpcc = 'tcp://127.0.0.1:1'", "unknown key 'rpcc'"),
        ("max_frame_bytes = 'big'", "must be an integer"),
        ("max_frame_bytes = 0", "at least 1"),
        ("rpc = 'http://x'", "must start with tcp://"),
        ("rpc = 'tcp://127.0.0.1:1'\npub = 'tcp://127.0.0.1:1'", "different endpoints"),
        ("this is not toml", "not valid TOML"),
        ("[classes]\ndeclared = 'Agent'", "list of class names"),
        ("[classes]\ndeclared = ['Agent', 'no.dots']", "not a valid class name"),
        ("metrics = '127.0.0.1'", "metrics: '127.0.0.1' is not HOST:PORT"),
        ("metrics = 9464", "metrics must be a str"),
    ],
)
def test_bad_config_is_refused_with_a_sentence(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_config(path, {}, {})


def test_serve_with_a_bad_config_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("nonsense = 1\n")
    assert main(["serve", "--config", str(path)]) == EXIT_CONFIG
    assert "configuration error" in capsys.readouterr().err


def test_metrics_address_takes_ipv4_ipv6_and_names() -> None:
    assert metrics_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert metrics_address("[::1]:0") == ("::1", 0)
    assert metrics_address("localhost:9464") == ("localhost", 9464)
    for bad in (":9464", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:http"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            metrics_address(bad)


def test_a_reload_applies_live_keys_and_names_the_rest() -> None:
    running = Config(log_level="warning", cycle_max_requests=1024)
    loaded = Config(log_level="debug", cycle_max_requests=16, rpc="tcp://127.0.0.1:6000", map_size_mb=64)
    config, later = reloaded(running, loaded)
    assert config == Config(log_level="debug", cycle_max_requests=16)
    assert later == ["rpc", "map_size_mb"]


def test_the_built_in_classes_load_first_unless_turned_off(tmp_path: Path) -> None:
    assert Config().class_modules == ("daemon.world",) and Config().builtin_classes
    path = tmp_path / "lodestone.toml"
    path.write_text('[classes]\nmodules = ["mygame.classes", "daemon.world"]\n')
    assert load_config(path, {}, {}).class_modules == ("daemon.world", "mygame.classes")
    path.write_text('[classes]\nbuiltin = false\nmodules = ["mygame.classes"]\n')
    assert load_config(path, {}, {}).class_modules == ("mygame.classes",)
    path.write_text("[classes.options.Agent]\nheartbeat_s = 0.5\n[classes.options.Telemetry]\nretention_s = 60\n")
    assert load_config(path, {}, {}).class_options["Agent"] == {"heartbeat_s": 0.5}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[classes]\nbuiltin = 'yes'", "builtin_classes must be a bool"),
        ("[classes.options.Agent]\nheartbeat_s = 0", r"\[classes.options.Agent\] heartbeat_s must be a positive"),
        ("[classes.options.Agent]\nspawn = [0, 64, 0]", r"spawn must be a table \{x, y, z\}"),
        ("[classes.options.Agent]\nheartbeat = 5", "has no option heartbeat; its options are heartbeat_s"),
        ("[classes.options.Foreman]\nactive_window_s = 'a minute'", "active_window_s must be a positive number"),
        ("[classes.options.Telemetry]\nsweep_batch = 1.5", "sweep_batch must be a positive integer"),
        ("[classes.options.MissionControl]\nx = 1", "takes no options"),
    ],
)
def test_bad_built_in_class_options_are_refused(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):  # when the file is read, or when the classes load
        config = load_config(path, {}, {})
        load_classes(config.class_modules, config.class_options)


def test_options_are_not_checked_when_the_built_in_classes_are_off(tmp_path: Path) -> None:
    path = tmp_path / "lodestone.toml"
    path.write_text("[classes]\nbuiltin = false\n[classes.options.Agent]\nheartbeat = 5\n")
    assert load_config(path, {}, {}).class_options["Agent"] == {"heartbeat": 5}


def test_every_setting_can_come_from_the_environment_between_the_file_and_the_flags(tmp_path: Path) -> None:
    path = tmp_path / "lodestone.toml"
    path.write_text('rpc = "tcp://127.0.0.1:6000"\nmax_frame_bytes = 1000\n[classes]\nallow_undeclared = true\n')
    environ = {
        "LODESTONE_RPC": "tcp://127.0.0.1:6001",
        "LODESTONE_PUB": "tcp://127.0.0.1:6002",
        "LODESTONE_MAX_FRAME_BYTES": "2048",
        "LODESTONE_CLASSES_ALLOW_UNDECLARED": "false",
        "LODESTONE_CLASSES_DECLARED": '["Chest"]',
        "STATE_DIRECTORY": "/srv/state",
    }
    config = load_config(path, {"pub": "tcp://127.0.0.1:6003"}, environ)
    assert config.rpc == "tcp://127.0.0.1:6001"  # the environment beats the file
    assert config.pub == "tcp://127.0.0.1:6003"  # a flag beats the environment
    assert config.max_frame_bytes == 2048 and config.allow_undeclared_classes is False
    assert config.declared_classes == ("Chest",)
    assert config.data_dir == Path("/srv/state")


def test_a_bad_environment_value_is_refused_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LODESTONE_MAX_FRAME_BYTES"):
        load_config(None, {}, {"LODESTONE_MAX_FRAME_BYTES": "lots"})
    with pytest.raises(ConfigError, match="LODESTONE_CYCLE_MAX_REQUESTS"):
        load_config(None, {}, {"LODESTONE_CYCLE_MAX_REQUESTS": "0"})

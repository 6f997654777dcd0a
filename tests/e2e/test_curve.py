"""CURVE on a real daemon: allowed keys get in, everyone else gets nothing, and remote binds need it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge import AsyncClient, Client, CurveKeys, Subscriber, Timeout
from daemon.cli import EXIT_CONFIG, main
from tests.conftest import REPO, SECRET, DaemonProcess, wait_for


@dataclass
class CurveSetup:
    daemon: DaemonProcess
    allowed: CurveKeys
    stranger: CurveKeys
    data_dir: Path


def fresh_data_dir(data: Path) -> None:
    """A data directory with the test secret, readable by its owner only (as the daemon wants it)."""
    data.mkdir()
    (data / "secret").write_bytes(SECRET)
    (data / "secret").chmod(0o600)


def lodestone_keys(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``lodestone keys ARGS`` in this process; return its stdout."""
    assert main(["keys", *args]) == 0
    return capsys.readouterr().out


@pytest.fixture
def curve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[CurveSetup]:
    data = tmp_path / "data"
    fresh_data_dir(data)
    server_key = lodestone_keys(capsys, "server", "--data-dir", str(data)).strip()
    plugin_key = lodestone_keys(capsys, "client", "plugin", "--data-dir", str(data)).strip()
    lodestone_keys(capsys, "client", "stranger", "--data-dir", str(data), "--out", str(tmp_path / "elsewhere"))
    config = tmp_path / "lodestone.toml"
    config.write_text(f'[security]\ncurve = true\nclient_keys = ["{plugin_key}"]\n')
    server_file = data / "curve" / "server.key"
    allowed = CurveKeys.load(server_file, data / "curve" / "clients" / "plugin.key_secret")
    stranger = CurveKeys.load(server_key, tmp_path / "elsewhere" / "stranger.key_secret")
    assert allowed.server_key == server_key and allowed.public_key == plugin_key
    daemon = DaemonProcess(data, extra_args=["--config", str(config)]).start()
    yield CurveSetup(daemon, allowed, stranger, data)
    if daemon.process is not None:
        daemon.process.kill()
        daemon.process.wait(10)


def test_a_client_with_an_allowed_key_reads_and_writes(curve: CurveSetup) -> None:
    with Client(curve.daemon.rpc, curve=curve.allowed) as client:
        client.object("Chest", "c").put("slots", 3)
        assert client.object("Chest", "c").get("slots") == 3

    async def pipelined() -> list[dict[str, object]]:
        async with AsyncClient(curve.daemon.rpc, curve=curve.allowed) as client:
            return list(await asyncio.gather(*(client.ping() for _ in range(20))))

    assert all(reply["protocol"] == [1] for reply in asyncio.run(pipelined()))
    assert curve.daemon.stop() == 0  # the ZAP handler's thread stops with the sockets


def test_clients_without_an_allowed_key_get_nothing_and_the_good_one_keeps_working(curve: CurveSetup) -> None:
    rpc = curve.daemon.rpc
    with Client(rpc, curve=curve.allowed) as good:
        good.ping()
        with Client(rpc, timeout=0.5, retries=0) as no_key, pytest.raises(Timeout):
            no_key.ping()
        with Client(rpc, timeout=0.5, retries=0, curve=curve.stranger) as stranger, pytest.raises(Timeout):
            stranger.object("Chest", "c").put("stolen", True)
        wrong_server = CurveKeys(curve.stranger.public_key, curve.allowed.public_key, curve.allowed.secret_key)
        with Client(rpc, timeout=0.5, retries=0, curve=wrong_server) as confused, pytest.raises(Timeout):
            confused.ping()

        async def no_key_async() -> None:
            async with AsyncClient(rpc, timeout=0.5, retries=0) as client:
                await client.ping()

        with pytest.raises(Timeout):
            asyncio.run(no_key_async())
        assert good.ping()["protocol"] == [1]
        assert good.object("Chest", "c").get("stolen") is None
        counters = good.stats()["counters"]
    assert counters["curve.refused"] >= 1  # the stranger's key reached the ZAP handler and was refused
    assert counters["curve.accepted"] >= 1


def test_only_a_subscriber_with_an_allowed_key_hears_the_change_stream(curve: CurveSetup) -> None:
    pub = curve.daemon.pub
    with (
        Client(curve.daemon.rpc, curve=curve.allowed) as client,
        Subscriber(pub, topics=("change.",), curve=curve.allowed) as allowed,
        Subscriber(pub, topics=("change.",)) as no_key,
        Subscriber(pub, topics=("change.",), curve=curve.stranger) as stranger,
    ):
        for attempt in range(100):  # until the allowed subscription has reached the daemon
            client.object("Chest", "c").put("n", attempt)
            try:
                event = allowed.recv(timeout=0.1)
                break
            except Timeout:
                continue
        else:
            pytest.fail("the allowed subscriber heard nothing")
        assert event.topic.startswith("change.Chest.")
        client.object("Chest", "c").put("n", "last")
        assert allowed.recv(timeout=5).body["changes"]
        for locked_out in (no_key, stranger):
            with pytest.raises(Timeout):
                locked_out.recv(timeout=0.3)


def serve(data_dir: Path, config_text: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = data_dir.parent / "lodestone.toml"
    config.write_text(config_text)
    command = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(data_dir), "--config", str(config), *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("rpc", "pub", "config_text"),
    [
        ("tcp://0.0.0.0:*", "tcp://127.0.0.1:*", ""),
        ("tcp://127.0.0.1:*", "tcp://*:*", ""),
        ("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 'metrics = "0.0.0.0:0"\n[security]\ncurve = true\n'),
    ],
)
def test_a_non_loopback_bind_without_authentication_is_refused_before_anything_opens(
    tmp_path: Path, rpc: str, pub: str, config_text: str
) -> None:
    data = tmp_path / "data"
    done = serve(data, config_text, "--rpc", rpc, "--pub", pub)
    assert done.returncode == EXIT_CONFIG
    assert "beyond loopback" in done.stderr and "insecure_remote = true" in done.stderr
    assert "Traceback" not in done.stderr and "serving" not in done.stdout
    assert not (data / "lmdb").exists()  # refused before storage opened, so before any bind


def test_insecure_remote_starts_and_warns_at_every_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    fresh_data_dir(data)
    config = tmp_path / "lodestone.toml"
    config.write_text("[security]\ninsecure_remote = true\n")
    # "lo" names the loopback interface, so nothing is exposed, but the rule counts an interface
    # name as remote: it never guesses where a name binds.
    daemon = DaemonProcess(data, rpc="tcp://lo:*", extra_args=["--config", str(config)],
                           stderr_path=tmp_path / "stderr")
    for _ in range(2):
        daemon.start()
        with Client(daemon.rpc) as client:
            assert client.ping()["protocol"] == [1]
        assert daemon.stop() == 0
        daemon.rpc = "tcp://lo:*"
    warnings = [line for line in (tmp_path / "stderr").read_text().splitlines() if "insecure_remote" in line]
    assert len(warnings) == 2 and "WARNING" in warnings[0] and "rpc tcp://lo:*" in warnings[0]
    config.write_text("")
    refused = serve(data, "", "--rpc", "tcp://lo:*", "--pub", "tcp://127.0.0.1:*")
    assert refused.returncode == EXIT_CONFIG


def test_curve_without_a_server_key_or_with_a_readable_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    fresh_data_dir(data)
    missing = serve(data, "[security]\ncurve = true\n", "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*")
    assert missing.returncode == EXIT_CONFIG and "lodestone keys server" in missing.stderr
    lodestone_keys(capsys, "server", "--data-dir", str(data))
    secret_file = data / "curve" / "server.key_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret_file.chmod(0o640)
    readable = serve(data, "[security]\ncurve = true\n", "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*")
    assert readable.returncode == EXIT_CONFIG
    assert f"chmod 600 {secret_file}" in readable.stderr and "Traceback" not in readable.stderr


def test_keys_list_names_each_key_and_whether_the_config_allows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    server = lodestone_keys(capsys, "server", "--data-dir", str(data)).strip()
    assert lodestone_keys(capsys, "server", "--data-dir", str(data)).strip() == server  # made once, then read
    plugin = lodestone_keys(capsys, "client", "plugin", "--data-dir", str(data)).strip()
    lodestone_keys(capsys, "client", "dashboard", "--data-dir", str(data))
    assert main(["keys", "client", "plugin", "--data-dir", str(data)]) != 0  # never overwritten
    assert "exists" in capsys.readouterr().err
    config = tmp_path / "lodestone.toml"
    config.write_text(f'[security]\nclient_keys = ["{plugin}"]\n')
    listed = [json.loads(line) for line in lodestone_keys(capsys, "list", "--data-dir", str(data),
                                                          "--config", str(config)).splitlines()]
    assert listed[0] == {"role": "server", "name": "server", "public_key": server}
    assert {entry["name"]: entry["allowed"] for entry in listed[1:]} == {"dashboard": False, "plugin": True}


def test_a_reload_changes_the_allow_list_for_new_connections(curve: CurveSetup) -> None:
    config = Path(curve.daemon.extra_args[1])
    config.write_text(f'[security]\ncurve = true\nclient_keys = ["{curve.stranger.public_key}"]\n')
    assert curve.daemon.process is not None
    curve.daemon.process.send_signal(signal.SIGHUP)

    def stranger_gets_in() -> bool:
        with Client(curve.daemon.rpc, timeout=0.3, retries=0, curve=curve.stranger) as client:
            try:
                return bool(client.ping())
            except Timeout:
                return False

    assert wait_for(stranger_gets_in)
    with Client(curve.daemon.rpc, timeout=0.5, retries=0, curve=curve.allowed) as revoked, pytest.raises(Timeout):
        revoked.ping()

"""Operator commands against real data directories: backup under load, restore, verify."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import threading
from pathlib import Path

from bridge import Client
from tests.conftest import REPO, DaemonProcess, write_secret

OBJECTS = 10


def lodestone(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_a_backup_taken_under_writes_restores_to_one_consistent_point_and_verifies(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    """One writer puts 1, 2, 3, ... in turn, spread over ten objects, each put
    acknowledged before the next is sent. A consistent snapshot therefore holds
    exactly the values 1..S for some S (a torn one would have a gap), with S at
    least the number acknowledged before the backup began."""
    acknowledged = 0
    enough = threading.Event()
    stop = threading.Event()

    def write() -> None:
        nonlocal acknowledged
        with Client(daemon.rpc, timeout=10) as client:
            agents = [client.object("Agent", f"steve-{i}") for i in range(OBJECTS)]
            value = 0
            while not stop.is_set():
                value += 1
                agents[value % OBJECTS].put(f"k{value:07d}", {"value": value, "pad": "x" * 100})
                acknowledged = value
                if value == 300:
                    enough.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert enough.wait(60)
        before = acknowledged
        made = lodestone("backup", str(tmp_path / "backup"), "--data-dir", str(daemon.data_dir))
        during = acknowledged - before
    finally:
        stop.set()
        writer.join(30)
    assert made.returncode == 0, made.stderr
    assert "backup: " in made.stderr  # progress on stderr
    manifest = json.loads((tmp_path / "backup" / "backup.json").read_text())
    assert manifest == json.loads(made.stdout)
    assert during > 0, "the writer should have kept writing while the backup ran"

    checked = lodestone("verify", "--data-dir", str(tmp_path / "backup"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    restored = lodestone("restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "restored"))
    assert restored.returncode == 0, restored.stderr
    checked = lodestone("verify", "--data-dir", str(tmp_path / "restored"))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    copy = DaemonProcess(tmp_path / "restored").start()
    try:
        with Client(copy.rpc) as client:
            values = sorted(
                entry["value"]
                for i in range(OBJECTS)
                for _, entry in client.object("Agent", f"steve-{i}").list()
            )
            stats = client.stats()
    finally:
        copy.stop()
    assert values == list(range(1, len(values) + 1)), "the backup is not one consistent point"
    assert before <= len(values) <= acknowledged + 1
    assert stats["storage"]["commit_seq"] == manifest["commit_seq"]
    assert manifest["objects"] == OBJECTS


def test_restore_over_a_running_daemons_data_dir_is_refused(daemon: DaemonProcess, tmp_path: Path) -> None:
    with Client(daemon.rpc) as client:
        client.object("Agent", "kept").put("hp", 20)
    assert lodestone("backup", str(tmp_path / "backup"), "--data-dir", str(daemon.data_dir)).returncode == 0
    with Client(daemon.rpc) as client:
        client.object("Agent", "kept").put("hp", 5)
    refused = lodestone("restore", str(tmp_path / "backup"), "--data-dir", str(daemon.data_dir), "--force")
    assert refused.returncode == 75
    assert "in use by a running Lodestone" in refused.stderr
    with Client(daemon.rpc) as client:
        assert client.object("Agent", "kept").get("hp") == 5
    assert daemon.stop() == 0
    replaced = lodestone("restore", str(tmp_path / "backup"), "--data-dir", str(daemon.data_dir), "--force")
    assert replaced.returncode == 0, replaced.stderr
    daemon.start()
    with Client(daemon.rpc) as client:
        assert client.object("Agent", "kept").get("hp") == 20


def test_restore_into_a_directory_with_data_needs_force(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    write_secret(source)
    proc = DaemonProcess(source).start()
    with Client(proc.rpc) as client:
        client.object("Agent", "a").put("k", 1)
    proc.stop()
    assert lodestone("backup", str(tmp_path / "backup"), "--data-dir", str(source)).returncode == 0
    refused = lodestone("restore", str(tmp_path / "backup"), "--data-dir", str(source))
    assert refused.returncode == 1 and "--force" in refused.stderr
    again = lodestone("backup", str(tmp_path / "backup"), "--data-dir", str(source))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_tail_prints_the_change_stream_as_json_lines(daemon: DaemonProcess) -> None:
    tail = subprocess.Popen(
        [sys.executable, "-m", "daemon", "tail", "change.Agent.", "--pub", daemon.pub, "--count", "1"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    assert tail.stdout is not None
    try:
        with Client(daemon.rpc) as client, selectors.DefaultSelector() as selector:
            selector.register(tail.stdout, selectors.EVENT_READ)
            client.object("Horse", "ignored").put("x", 0)
            # The subscription reaches the daemon asynchronously: write until a line comes.
            for attempt in range(100):
                client.object("Agent", "tailed").put("attempt", attempt)
                if selector.select(0.1):
                    break
        event = json.loads(tail.stdout.readline())
        assert tail.wait(10) == 0
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
    assert event["topic"].startswith("change.Agent.") and event["name"] == "tailed"
    assert event["changes"][0]["key"] == "attempt"

"""The [gateway] table, its tokens, and ``lodestone gateway token``."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main
from daemon.config import load_config
from daemon.errors import ConfigError
from daemon.gateway.auth import Authenticator
from daemon.gateway.config import GatewayConfig, new_token, parse_gateway, parse_listen, with_overrides

DIGEST = "ab" * 32


def parse(table: dict[str, Any]) -> GatewayConfig:
    return parse_gateway(table, "test.toml")


def test_defaults_and_values() -> None:
    config = parse({})
    assert config == GatewayConfig()
    assert config.address == ("127.0.0.1", 8765) and config.listen is None and config.open
    config = parse({"listen": "[::1]:0", "rpc": "ipc:///tmp/x", "max_in_flight": 2048, "upstream_timeout_s": 2,
                    "tokens": [{"name": "dash", "sha256": DIGEST.upper(), "scope": "read", "classes": ["Agent"]}]})
    assert config.address == ("::1", 0) and config.rpc == "ipc:///tmp/x" and config.upstream_timeout_s == 2.0
    assert config.tokens[0].sha256 == bytes.fromhex(DIGEST) and config.tokens[0].classes == ("Agent",)


@pytest.mark.parametrize(("table", "words"), [
    ({"sauce": 1}, "unknown key gateway.sauce"),
    ({"listen": "8765"}, "HOST:PORT"),
    ({"listen": "0.0.0.0:8765"}, "not loopback"),
    ({"rpc": "http://x"}, "tcp:// or ipc://"),
    ({"max_connections": 0}, "positive integer"),
    ({"max_prefixes": True}, "positive integer"),
    ({"upstream_timeout_s": 0}, "above 0"),
    ({"tls_cert": "c.pem"}, "go together"),
    ({"batch_max_requests": 2048}, "never be taken"),
    ({"tokens": {"name": "x"}}, "list of tables"),
    ({"tokens": [{"name": "x", "sha256": DIGEST}]}, "takes name, sha256, scope"),
    ({"tokens": [{"name": "x", "sha256": "abc", "scope": "read"}]}, "64 hex digits"),
    ({"tokens": [{"name": "x", "sha256": DIGEST, "scope": "root"}]}, "scope must be one of"),
    ({"tokens": [{"name": "", "sha256": DIGEST, "scope": "read"}]}, "printable characters"),
    ({"tokens": [{"name": "x", "sha256": DIGEST, "scope": "admin", "classes": ["Agent"]}]}, "every class"),
    ({"tokens": [{"name": "x", "sha256": DIGEST, "scope": "read", "classes": []}]}, "non-empty list"),
    ({"tokens": [{"name": "x", "sha256": DIGEST, "scope": "read", "classes": ["no.dots"]}]}, "not a class name"),
    ({"tokens": [{"name": "x", "sha256": DIGEST, "scope": "read"},
                 {"name": "x", "sha256": "cd" * 32, "scope": "read"}]}, "named the same"),
    ({"tokens": [{"name": "x", "sha256": DIGEST, "scope": "read"},
                 {"name": "y", "sha256": DIGEST, "scope": "write"}]}, "same sha256"),
])
def test_bad_tables_are_refused_with_the_key_named(table: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=r"test\.toml") as refused:
        parse(table)
    assert words in str(refused.value)


def test_non_loopback_needs_tokens() -> None:
    token = {"name": "x", "sha256": DIGEST, "scope": "read"}
    assert parse({"listen": "0.0.0.0:8765", "tokens": [token]}).address == ("0.0.0.0", 8765)
    with pytest.raises(ConfigError, match="not loopback"):
        with_overrides(GatewayConfig(), {"listen": "192.0.2.1:80", "rpc": None, "pub": None}, "flags")
    assert with_overrides(GatewayConfig(), {"listen": "localhost:1", "rpc": None, "pub": None}, "f").listen == (
        "localhost:1")
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen("host:99999")


def test_the_daemon_config_reads_the_gateway_table(tmp_path: Path) -> None:
    path = tmp_path / "lodestone.toml"
    path.write_text('rpc = "tcp://127.0.0.1:6000"\n[gateway]\nlisten = "127.0.0.1:9000"\nmax_prefixes = 3\n')
    config = load_config(path, {}, {})
    assert config.gateway is not None and config.gateway.listen == "127.0.0.1:9000"
    assert config.gateway.max_prefixes == 3 and config.gateway.source == path
    assert load_config(None, {}, {}).gateway is None
    path.write_text('[gateway]\nlisten = 5\n')
    with pytest.raises(ConfigError, match=r"gateway\.listen"):
        load_config(path, {}, {})


def test_new_tokens_hash_to_what_the_lines_hold() -> None:
    token, lines = new_token("dash board", "write", ("Agent", "Foreman"))
    entry = tomllib.loads(lines)["gateway"]["tokens"][0]
    assert entry == {"name": "dash board", "sha256": hashlib.sha256(token.encode()).hexdigest(), "scope": "write",
                     "classes": ["Agent", "Foreman"]}
    assert token not in lines and token.startswith("lst_") and len(token) > 40
    config = parse({"tokens": [entry]})
    grant = Authenticator(config).grant(token)
    assert grant is not None and grant.name == "dash board" and grant.classes == frozenset({"Agent", "Foreman"})
    assert Authenticator(config).grant(token + "x") is None and Authenticator(config).grant(None) is None
    assert new_token("x", "read", None)[0] != new_token("x", "read", None)[0]


def test_the_token_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "token", "tab", "--scope", "read", "--class", "Agent"]) == 0
    out = capsys.readouterr().out
    token = out.splitlines()[0].removeprefix("token: ")
    entry = tomllib.loads(out.split("\n", 1)[1])["gateway"]["tokens"][0]
    assert entry["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert entry["scope"] == "read" and entry["classes"] == ["Agent"]
    assert main(["gateway", "token", "x", "--scope", "admin", "--class", "Agent"]) == 2
    assert "every class" in capsys.readouterr().err

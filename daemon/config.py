"""Configuration: read once in ``main`` into a frozen :class:`Config`, then passed down.

Sources, later winning: built-in defaults, ``$STATE_DIRECTORY`` (set by
systemd's ``StateDirectory=``) for the data directory, the TOML file,
``LODESTONE_<KEY>`` environment variables (for panels that pass settings only
that way), the command-line flags. Unknown keys in the file are refused so a
typo cannot go unnoticed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from daemon.errors import BadRequest, ConfigError
from daemon.gateway.config import GatewayConfig, parse_gateway
from daemon.ids import check_class_name
from daemon.model import Step

DEFAULT_RPC = "tcp://127.0.0.1:5555"
DEFAULT_PUB = "tcp://127.0.0.1:5556"
DEFAULT_DATA_DIR = "lodestone-data"
# The built-in classes (Agent, Foreman, MissionControl, Telemetry), loaded unless [classes] builtin = false.
BUILTIN_CLASSES_MODULE = "daemon.world"
_LOG_LEVELS = ("debug", "info", "warning", "error")
_ENDPOINT_SCHEMES = ("tcp://", "ipc://", "inproc://")


@dataclass(frozen=True)
class Config:
    """Everything the daemon reads from its configuration; see docs/configuration.md."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    rpc: str = DEFAULT_RPC
    pub: str = DEFAULT_PUB
    log_level: str = "info"
    max_frame_bytes: int = 16 * 1024 * 1024
    map_size_mb: int = 1024
    max_map_size_mb: int = 1024 * 1024
    idempotency_window_s: int = 3600
    cycle_max_requests: int = 1024
    batch_max_requests: int = 1024
    alarm_retry_base_ms: int = 2000
    alarm_max_retries: int = 6
    alarm_horizon_s: int = 60
    declared_classes: tuple[str, ...] = ()
    allow_undeclared_classes: bool = True
    builtin_classes: bool = True
    # Every module whose CLASSES the daemon loads: the built-in one first (unless builtin_classes
    # is false), then those of [classes] modules.
    class_modules: tuple[str, ...] = (BUILTIN_CLASSES_MODULE,)
    class_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    max_resident_objects: int = 10_000
    resident_idle_s: int = 300
    class_migrations: tuple[Step, ...] = ()
    metrics: str | None = None
    # The [gateway] table (docs/gateway.md); None when the file has none.
    gateway: GatewayConfig | None = None
    # Held notices of plain objects' alarms that came due while the daemon was down (docs/alarms.md).
    alarm_notice_grace_s: int = 60
    # [security]: CURVE on the rpc and pub sockets, the client keys it lets in, and the operator's
    # explicit consent to a non-loopback bind without it (docs/configuration.md, "Security").
    curve: bool = False
    curve_client_keys: tuple[str, ...] = ()
    insecure_remote: bool = False
    # The wire's hardening limits (docs/protocol.md, "Limits").
    max_connections: int = 512
    max_subscriptions: int = 10_000
    pub_buffer_bytes: int = 64 * 1024 * 1024
    cluster: ClusterSettings | None = None



# Placement of the built-in classes in a cluster (docs/cluster.md); any other class follows its requests.
HOME_CLASSES = ("Foreman", "MissionControl", "Telemetry")
_CLUSTER_KEYS = ("name", "node_id", "etcd", "lease_ttl_s", "token", "advertise_rpc", "advertise_pub", "placement")


@dataclass(frozen=True)
class ClusterSettings:
    """The ``[cluster]`` table: which cluster, this node, etcd, the lease, and where each class lives."""

    name: str
    node_id: str
    etcd: tuple[str, ...]
    token: str
    lease_ttl_s: int = 10
    advertise_rpc: str | None = None
    advertise_pub: str | None = None
    placement: Mapping[str, str] = field(default_factory=dict)

    def placement_of(self, class_name: str) -> str:
        """``follow`` (the object moves to the node a request reaches) or ``home`` (requests go to it)."""
        default = "home" if class_name in HOME_CLASSES else "follow"
        return self.placement.get(class_name, default)


def cluster_settings(table: Any, source: str) -> ClusterSettings:
    """The ``[cluster]`` table, checked; raises ``ConfigError`` naming the key."""
    if not isinstance(table, dict) or set(table) - set(_CLUSTER_KEYS):
        raise ConfigError(f"{source}: [cluster] takes only {list(_CLUSTER_KEYS)}, got {table!r}")
    for key in ("name", "node_id", "token"):
        value = table.get(key)
        if not isinstance(value, str) or not value or (key != "token" and not value.replace("-", "").isalnum()):
            raise ConfigError(f"{source}: [cluster] {key} must be a non-empty string"
                              + ("" if key == "token" else " of letters, digits and -") + f", got {value!r}")
    etcd = table.get("etcd")
    if not isinstance(etcd, list) or not etcd or not all(isinstance(e, str) and e.startswith("http://") for e in etcd):
        raise ConfigError(f'{source}: [cluster] etcd must be a list of http:// endpoints, got {etcd!r}')
    ttl = table.get("lease_ttl_s", 10)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 2:
        raise ConfigError(f"{source}: [cluster] lease_ttl_s must be an integer of at least 2, got {ttl!r}")
    placement = table.get("placement", {})
    if not isinstance(placement, dict) or not all(v in ("follow", "home") for v in placement.values()):
        raise ConfigError(f'{source}: [cluster.placement] maps class names to "follow" or "home", got {placement!r}')
    for key in ("advertise_rpc", "advertise_pub"):
        if key in table and not (isinstance(table[key], str) and table[key].startswith(_ENDPOINT_SCHEMES)):
            raise ConfigError(f"{source}: [cluster] {key} must be an endpoint (tcp://...), got {table[key]!r}")
    return ClusterSettings(table["name"], table["node_id"], tuple(etcd), table["token"], ttl,
                           table.get("advertise_rpc"), table.get("advertise_pub"), MappingProxyType(dict(placement)))


# What a reload (SIGHUP) applies to the running daemon; other keys wait for a restart.
LIVE_KEYS = ("log_level", "cycle_max_requests", "curve_client_keys")

_CLASSES_KEYS = {"declared": "declared_classes", "allow_undeclared": "allow_undeclared_classes",
                 "builtin": "builtin_classes", "modules": "class_modules", "options": "class_options"}
_SECURITY_KEYS = {"curve": "curve", "client_keys": "curve_client_keys", "insecure_remote": "insecure_remote"}
# The tables of the file, each mapping its keys to Config fields.
_TABLES = {"classes": _CLASSES_KEYS, "security": _SECURITY_KEYS}
_TOP_LEVEL = (
    {f.name for f in fields(Config)} - set(_CLASSES_KEYS.values()) - set(_SECURITY_KEYS.values())
    - {"class_migrations", "gateway", "cluster"}
)
_CLASSES_TABLE = set(_CLASSES_KEYS)
# A CURVE public key in Z85: 40 characters of ZeroMQ's Z85 alphabet.
_Z85_KEY = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")


def load_config(
    path: Path | None,
    overrides: Mapping[str, Any],
    environ: Mapping[str, str],
) -> Config:
    """Build the configuration from ``path`` (TOML), the environment and ``overrides``.

    Raises ``ConfigError`` with a sentence naming the file (or variable), the key and the fix.
    """
    values: dict[str, Any] = {}
    if environ.get("STATE_DIRECTORY"):
        values["data_dir"] = environ["STATE_DIRECTORY"].split(":")[0]
    if path is not None:
        values.update(_read_toml(path))
    from_environment = environment_values(environ)
    values.update(from_environment)
    values.update({key: value for key, value in overrides.items() if value is not None})
    source = str(path) if path else "the command line"
    if from_environment:
        source += " (with " + ", ".join(f"{ENV_PREFIX}{_env_name(key)}" for key in from_environment) + ")"
    return _build(values, source)


ENV_PREFIX = "LODESTONE_"
# Keys whose environment value is taken as it is written; the others are read as TOML values
# (LODESTONE_MAX_FRAME_BYTES=1048576, LODESTONE_CLASSES_DECLARED='["Agent", "Chest"]').
_TEXT_KEYS = frozenset({"data_dir", "rpc", "pub", "log_level", "metrics"})


def _env_name(key: str) -> str:
    names = {
        config_key: f"{table}_{table_key}" for table, keys in _TABLES.items() for table_key, config_key in keys.items()
    }
    return names.get(key, key).upper()


def environment_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as ``LODESTONE_<KEY>`` variables (``LODESTONE_<TABLE>_<KEY>`` for a table's keys).

    ``[classes.options]`` and ``[[migrations]]`` come from the file only.
    """
    found: dict[str, Any] = {}
    table_keys = set(_CLASSES_KEYS.values()) | set(_SECURITY_KEYS.values())
    for key in sorted(_TOP_LEVEL | (table_keys - {"class_options"})):
        name = ENV_PREFIX + _env_name(key)
        if name not in environ:
            continue
        text = environ[name]
        if key in _TEXT_KEYS:
            found[key] = text
            continue
        try:
            found[key] = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{name}={text!r} is not a TOML value (a number, true/false, a [list]): {exc}") from exc
    return found


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _TABLES:
            table = _TABLES[key]
            if not isinstance(value, dict) or set(value) - set(table):
                raise ConfigError(f"{path}: [{key}] takes only {sorted(table)}, got {value!r}")
            for table_key, config_key in table.items():
                if table_key in value:
                    values[config_key] = value[table_key]
        elif key == "migrations":
            values["class_migrations"] = parse_steps(value, str(path))
        elif key == "gateway":
            values["gateway"] = parse_gateway(value, str(path), path)
        elif key == "cluster":
            values["cluster"] = cluster_settings(value, str(path))
        elif key in _TOP_LEVEL:
            values[key] = value
        else:
            raise ConfigError(
                f"{path}: unknown key {key!r}; known keys are {sorted(_TOP_LEVEL)}, [classes], [security], "
                "[gateway], [cluster] and [[migrations]]"
            )
    return values


def _build(values: dict[str, Any], source: str) -> Config:
    checked = {key: _checked(key, value, source) for key, value in values.items()}
    _add_builtin_classes(checked)
    config = Config(**checked)
    if config.rpc == config.pub and not config.rpc.endswith(":*"):
        raise ConfigError(f"{source}: rpc and pub must be different endpoints, both are {config.rpc}")
    if config.map_size_mb > config.max_map_size_mb:
        raise ConfigError(f"{source}: map_size_mb is larger than max_map_size_mb")
    return config


def _checked(key: str, value: Any, source: str) -> Any:
    """``value`` of the config key ``key``, checked and in the form Config holds; raises ``ConfigError``."""
    def need(key: str, kind: type[Any], minimum: int | None = None) -> Any:
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
        if not isinstance(value, kind):
            raise ConfigError(f"{source}: {key} must be a {kind.__name__}, got {value!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{source}: {key} must be at least {minimum}, got {value}")
        return value

    if key == "data_dir":
        return Path(need(key, str) if not isinstance(value, Path) else value)
    elif key in ("rpc", "pub"):
        endpoint = need(key, str)
        if not endpoint.startswith(_ENDPOINT_SCHEMES):
            raise ConfigError(
                f"{source}: {key} endpoint {endpoint!r} must start with tcp://, ipc:// or inproc://"
            )
        return endpoint
    elif key == "log_level":
        level = need(key, str).lower()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"{source}: log_level must be one of {_LOG_LEVELS}, got {level!r}")
        return level
    elif key == "declared_classes":
        names = value
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{source}: classes.declared must be a list of class names")
        for name in names:
            try:
                check_class_name(name)
            except BadRequest as exc:
                raise ConfigError(f"{source}: classes.declared: {exc}") from exc
        return tuple(names)
    elif key in ("allow_undeclared_classes", "builtin_classes", "curve", "insecure_remote"):
        return need(key, bool)
    elif key == "curve_client_keys":
        if not isinstance(value, list | tuple) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{source}: security.client_keys must be a list of Z85 public keys")
        for client_key in value:
            if not _Z85_KEY.fullmatch(client_key):
                raise ConfigError(
                    f"{source}: security.client_keys: {client_key!r} is not a CURVE public key (40 Z85 "
                    "characters); `lodestone keys client NAME` prints one"
                )
        return tuple(value)
    elif key == "alarm_notice_grace_s":
        return need(key, int, minimum=0)
    elif key == "class_modules":
        modules = value
        if not isinstance(modules, list | tuple) or not all(isinstance(m, str) for m in modules):
            raise ConfigError(f"{source}: classes.modules must be a list of module names")
        return tuple(modules)
    elif key == "class_options":
        options = value
        if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
            raise ConfigError(f"{source}: [classes.options.<Class>] tables hold each class's options")
        return MappingProxyType({name: MappingProxyType(dict(v)) for name, v in options.items()})
    elif key == "class_migrations":
        return tuple(value)
    elif key in ("gateway", "cluster"):
        return value
    elif key == "alarm_max_retries":
        return need(key, int, minimum=0)
    elif key == "metrics":
        address = need(key, str)
        try:
            metrics_address(address)
        except ValueError as exc:
            raise ConfigError(f"{source}: metrics: {exc}") from exc
        return address
    else:
        return need(key, int, minimum=1)


def _add_builtin_classes(checked: dict[str, Any]) -> None:
    """Put the built-in classes' module first in ``class_modules`` (unless turned off).

    The classes' options are checked when the classes are loaded (``load_classes``).
    """
    modules = tuple(module for module in checked.get("class_modules", ()) if module != BUILTIN_CLASSES_MODULE)
    builtin = (BUILTIN_CLASSES_MODULE,) if checked.get("builtin_classes", True) else ()
    checked["class_modules"] = (*builtin, *modules)


def metrics_address(text: str) -> tuple[str, int]:
    """``(host, port)`` from ``HOST:PORT`` (``[::1]:PORT`` for IPv6), or ``PORT`` (on 127.0.0.1).

    Raises ``ValueError``.
    """
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    host, colon, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not HOST:PORT, e.g. \"127.0.0.1:9464\"")
    return host, int(port)


def reloaded(running: Config, loaded: Config) -> tuple[Config, list[str]]:
    """What a reload does with ``loaded``, the configuration read again from its sources.

    Returns the configuration to run with (``running`` with the :data:`LIVE_KEYS`
    of ``loaded``) and the names of the other keys whose value changed: those
    take effect at the next start.
    """
    later = [
        f.name for f in fields(Config)
        if f.name not in LIVE_KEYS and getattr(running, f.name) != getattr(loaded, f.name)
    ]
    return replace(running, **{key: getattr(loaded, key) for key in LIVE_KEYS}), later


def parse_steps(raw: Any, source: str) -> tuple[Step, ...]:
    """The ``[[migrations]]`` array of a config file; raises ``ConfigError`` with the step at fault."""
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: migrations must be an array of tables ([[migrations]])")
    steps: list[Step] = []
    for index, entry in enumerate(raw):
        where = f"{source}: migrations[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("tag"), str) or not entry["tag"]:
            raise ConfigError(f"{where} needs a tag (a non-empty string)")
        unknown = set(entry) - {"tag", "new_classes", "renamed_classes", "deleted_classes"}
        if unknown:
            raise ConfigError(f"{where} ({entry['tag']}): unknown keys {sorted(unknown)}")
        try:
            new = tuple(check_class_name(name) for name in entry.get("new_classes", []))
            deleted = tuple(check_class_name(name) for name in entry.get("deleted_classes", []))
            renamed = tuple(
                (check_class_name(pair["from"]), check_class_name(pair["to"]))
                for pair in entry.get("renamed_classes", [])
            )
        except (BadRequest, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{where} ({entry['tag']}): {exc}; renamed_classes entries are {{from = ..., to = ...}}"
            ) from exc
        steps.append(Step(entry["tag"], new, renamed, deleted))
    tags = [step.tag for step in steps]
    if len(set(tags)) != len(tags):
        raise ConfigError(f"{source}: migration tags must be unique, got {tags}")
    return tuple(steps)

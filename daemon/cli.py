"""The ``lodestone`` command: ``serve``, and operator commands against a running daemon.

Exit codes: 0 success; 1 the daemon answered with an error (or a key was not
found, or an operation was refused); 2 bad usage; 3 no reply from the daemon;
65 ``verify`` found bad records, or the data is damaged or newer than this
Lodestone (``serve``, ``migrate``); 71 the system refused something at start
(an address in use, a full disk, a permission): worth retrying; 75 the data
directory is in use; 78 the configuration is invalid. Every start-up error
goes through :func:`start_failure`, the one place that picks its code.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

from daemon import __version__
from daemon.client_commands import client_command, curve_keys, print_json, tail
from daemon.config import DEFAULT_DATA_DIR, DEFAULT_PUB, DEFAULT_RPC, load_config
from daemon.errors import ConfigError, DataDamaged, DataDirLocked, DataTooNew
from daemon.exit_codes import EXIT_BAD_DATA as EXIT_BAD_DATA
from daemon.exit_codes import EXIT_CONFIG as EXIT_CONFIG
from daemon.exit_codes import EXIT_ERROR as EXIT_ERROR
from daemon.exit_codes import EXIT_LOCKED as EXIT_LOCKED
from daemon.exit_codes import EXIT_NO_REPLY as EXIT_NO_REPLY
from daemon.exit_codes import EXIT_SYSTEM as EXIT_SYSTEM
from daemon.exit_codes import EXIT_USAGE as EXIT_USAGE
from daemon.gateway.command import add_parser as add_gateway_parser


def start_failure(exc: BaseException, doing: str = "refusing to start") -> int | None:
    """Print why a command could not start and return its exit code; ``None`` if ``exc`` is not such an error."""
    if isinstance(exc, ConfigError):
        print(f"lodestone: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if isinstance(exc, DataDirLocked):
        print(f"lodestone: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    if isinstance(exc, DataTooNew | DataDamaged):
        print(f"lodestone: {doing}: {exc}", file=sys.stderr)
        return EXIT_BAD_DATA
    if isinstance(exc, OSError):
        print(f"lodestone: {doing}: {exc}", file=sys.stderr)
        return EXIT_SYSTEM
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lodestone",
        description="Lodestone: durable state for game AI agents, on LMDB and ZeroMQ.",
        epilog="Exit codes: 0 ok, 1 error reply, not found or refused, 2 usage, 3 no reply, "
        "65 bad records found, or data damaged or newer than this Lodestone, 71 the system refused something "
        "at start (address in use, disk full, permission), 75 data directory in use, 78 bad configuration. "
        "Every setting can also come from a LODESTONE_<KEY> environment variable (flags > environment > "
        "file > defaults).",
    )
    parser.add_argument("--version", action="version", version=f"lodestone {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    add_gateway_parser(commands)
    _add_data_commands(commands)
    _add_daemon_queries(commands)
    _add_object_commands(commands)
    _add_keys(commands)
    _add_cluster(commands)
    return parser


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _client_command(commands: Commands, name: str, text: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=text, description=text)
    sub.add_argument("--endpoint", default=DEFAULT_RPC, help=f"daemon RPC endpoint (default {DEFAULT_RPC})")
    sub.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    _add_curve_options(sub)
    return sub


def _add_curve_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--server-key", metavar="KEY-OR-FILE",
                     help="the daemon's CURVE public key (Z85, or its server.key file), when it has curve = true")
    sub.add_argument("--client-key", metavar="FILE", type=Path,
                     help="this client's NAME.key_secret file (from lodestone keys client), with --server-key")


def _data_command(commands: Commands, name: str, text: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=text, description=text)
    sub.add_argument("--config", type=Path, help="TOML configuration file to take data_dir from")
    sub.add_argument(
        "--data-dir", help=f"data directory (default: from --config, $STATE_DIRECTORY or ./{DEFAULT_DATA_DIR})"
    )
    return sub


def _add_serve(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="run the daemon in the foreground")
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--data-dir", help=f"data directory (default: $STATE_DIRECTORY or ./{DEFAULT_DATA_DIR})")
    serve.add_argument("--rpc", help=f"ROUTER endpoint to bind (default {DEFAULT_RPC})")
    serve.add_argument("--pub", help=f"PUB endpoint to bind (default {DEFAULT_PUB})")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"))


def _add_data_commands(commands: Commands) -> None:
    backup = _data_command(
        commands, "backup", "copy the data directory (live or not) to DEST: consistent and compacted"
    )
    backup.add_argument("dest", metavar="DEST", type=Path, help="a new directory for the backup")
    restore = _data_command(
        commands, "restore", "put the backup SRC into the data directory; refused while a daemon runs"
    )
    restore.add_argument("source", metavar="SRC", type=Path, help="a directory made by lodestone backup")
    restore.add_argument("--force", action="store_true", help="replace the data the directory already holds")
    _data_command(commands, "verify", "read every stored record and check it (whole file, CRCs, ids, indexes); "
                  "print each problem, exit 65 if any")
    migrate = _data_command(
        commands, "migrate", "upgrade every declared record to its current version; the daemon must be stopped"
    )
    migrate.add_argument("--dry-run", action="store_true", help="count records per type and version; change nothing")
    migrate.add_argument("--no-backup", action="store_true", help="skip the backup taken before migrating")


def _add_daemon_queries(commands: Commands) -> None:
    _client_command(commands, "ping", "check that the daemon answers; print its versions")
    _client_command(commands, "stats", "print the daemon's counters and storage figures")
    _client_command(commands, "health", "print the daemon's health; exit 1 unless it is ok")
    tail = commands.add_parser("tail", help="print the change stream, one JSON line per event",
                               description="print the change stream, one JSON line per event, until interrupted")
    tail.add_argument("prefix", metavar="TOPIC-PREFIX", nargs="?", default="change.",
                      help="only topics starting with this (default change.; change.Agent. for one class)")
    tail.add_argument("--pub", default=DEFAULT_PUB, help=f"daemon PUB endpoint (default {DEFAULT_PUB})")
    tail.add_argument("--count", type=int, help="exit after this many events")
    _add_curve_options(tail)
    alarm_list = _client_command(commands, "alarms", "list stored alarms in due order, one JSON line each")
    alarm_list.add_argument("--due", action="store_true", help="only alarms due now")
    alarm_list.add_argument("--limit", type=int, default=1000)
    objects = _client_command(commands, "ls", "list the stored objects of CLASS (id and name)")
    objects.add_argument("class_name", metavar="CLASS")
    objects.add_argument("--limit", type=int, default=1000)


def _add_object_commands(commands: Commands) -> None:
    def object_command(name: str, text: str) -> argparse.ArgumentParser:
        sub = _client_command(commands, name, text)
        sub.add_argument("class_name", metavar="CLASS")
        sub.add_argument("name", metavar="NAME")
        return sub

    object_command("get", "print the value of KEY in an object (JSON)").add_argument("key", metavar="KEY")
    put = object_command("put", "store VALUE (JSON, or a string with --string) under KEY")
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE")
    put.add_argument("--string", action="store_true", help="store VALUE as a string, not JSON")
    listing = object_command("list", "print an object's entries in key order, one JSON line each")
    for option in ("--prefix", "--start", "--start-after", "--end"):
        listing.add_argument(option)
    listing.add_argument("--reverse", action="store_true")
    listing.add_argument("--limit", type=int)
    object_command("delete", "delete KEYs from an object; print how many existed").add_argument(
        "keys", metavar="KEY", nargs="+"
    )
    inspect = object_command("inspect", "print one object as JSON: its id, its alarm and its entries")
    inspect.add_argument("--limit", type=int, default=1000, help="most entries to print (default 1000)")


def _add_keys(commands: Commands) -> None:
    text = "make and show CURVE keys (docs/configuration.md, Security)"
    keys = commands.add_parser("keys", help=text, description=text)
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    for name, action_text in (
        ("server", "print the daemon's CURVE public key, making its key pair in DATA_DIR/curve first if needed"),
        ("client", "make a client key pair NAME; print its public key and the client_keys line for the config"),
        ("list", "print the daemon's key and every client key, one JSON line each, and whether it is allowed"),
    ):
        action = _data_command(actions, name, action_text)
        if name == "client":
            action.add_argument("name", metavar="NAME", help="a name for the client (its files are NAME.key*)")
            action.add_argument("--out", type=Path, help="directory for the files (default DATA_DIR/curve/clients)")


def _add_cluster(commands: Commands) -> None:
    text = "a cluster of nodes (docs/cluster.md), read and changed in etcd: status, where, evict"
    cluster = commands.add_parser("cluster", help=text, description=text)
    actions = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", type=Path, required=True, help="a node's TOML configuration (its [cluster])")
        return sub

    action("status", "print the live nodes, their leases and how many objects each owns")
    where = action("where", "print which node owns the object NAME of CLASS")
    where.add_argument("class_name", metavar="CLASS")
    where.add_argument("name", metavar="NAME")
    evict = action("evict", "give up the objects of NODE, which is down: their state there is lost")
    evict.add_argument("node", metavar="NODE")
    evict.add_argument("--accept-loss", action="store_true", required=True,
                       help="required: the evicted objects start again empty on whichever node claims them")


def _cluster(args: argparse.Namespace) -> int:
    from daemon.service.cluster_admin import cluster_command

    try:
        config = load_config(args.config, {}, os.environ)
    except ConfigError as exc:
        print(f"lodestone: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if config.cluster is None:
        print(f"lodestone: {args.config} has no [cluster] table", file=sys.stderr)
        return EXIT_CONFIG
    outcome = cluster_command(config.cluster, args.action, print_json, class_name=getattr(args, "class_name", ""),
                              name=getattr(args, "name", ""), node=getattr(args, "node", ""))
    return {"ok": 0, "none": EXIT_ERROR, "refused": EXIT_ERROR, "unreachable": EXIT_NO_REPLY}[outcome]


def _serve(args: argparse.Namespace) -> int:
    from daemon.service import app, logs

    overrides = {"data_dir": args.data_dir, "rpc": args.rpc, "pub": args.pub, "log_level": args.log_level}
    try:
        config = load_config(args.config, overrides, os.environ)
    except ConfigError as exc:
        print(f"lodestone: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.configure_logging(config.log_level, os.environ)
    try:
        return app.run(config, lambda: load_config(args.config, overrides, os.environ))
    except (ConfigError, DataDirLocked, DataTooNew, DataDamaged, OSError) as exc:
        code = start_failure(exc)
        assert code is not None
        return code


def _gateway(args: argparse.Namespace) -> int:
    from daemon.gateway import command
    from daemon.service import logs

    if args.gateway_command == "token":
        return command.token(args)
    try:
        gateway, rpc, pub, daemon_limits, log_level = command.gateway_config(args)
    except ConfigError as exc:
        print(f"lodestone gateway: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.configure_logging(log_level, os.environ)
    return command.run(args, gateway, rpc, pub, daemon_limits)


def _operate(args: argparse.Namespace) -> int:
    from daemon.datadir.progress import Progress

    try:
        data_dir = load_config(args.config, {"data_dir": args.data_dir}, os.environ).data_dir
    except ConfigError as exc:
        print(f"lodestone: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    progress = Progress(sys.stderr)
    # SIGTERM unwinds like Ctrl-C: the read transaction ends and a half-made backup is removed.
    previous = signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    try:
        return _operate_on(args, data_dir, progress)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _operate_on(args: argparse.Namespace, data_dir: Path, progress: Any) -> int:
    from daemon.datadir.backup import backup, restore
    from daemon.datadir.verify import verify
    from daemon.errors import LodestoneError

    try:
        if args.command == "backup":
            print_json(vars(backup(data_dir, args.dest, progress)))
        elif args.command == "restore":
            print_json(vars(restore(args.source, data_dir, progress, force=args.force)))
        else:
            report = verify(data_dir, progress, on_problem=print)
            return 0 if report.ok else EXIT_BAD_DATA
    except DataDirLocked as exc:
        print(f"lodestone: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except DataDamaged as exc:
        print(f"lodestone: {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_DATA
    except (LodestoneError, OSError) as exc:
        print(f"lodestone: {args.command}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from daemon.datadir.progress import Progress
    from daemon.datadir.record_migration import migrate
    from daemon.errors import LodestoneError
    from daemon.runtime.classes import load_classes
    from daemon.service.app import backup_first, store_options
    from daemon.storage import Store

    try:
        config = load_config(args.config, {"data_dir": args.data_dir}, os.environ)
        classes = load_classes(config.class_modules, config.class_options)
    except ConfigError as exc:
        return start_failure(exc) or EXIT_CONFIG
    store = Store(config.data_dir, store_options(config))
    try:
        store.open()
        if not args.dry_run and not args.no_backup:
            print(f"backed up to {backup_first(store, 'migrate')}", file=sys.stderr)
        report = migrate(store, classes, args.dry_run, Progress(sys.stderr))
    except DataDirLocked as exc:
        print(f"lodestone: {exc}; stop the daemon before migrating", file=sys.stderr)
        return EXIT_LOCKED
    except LodestoneError as exc:
        print(f"lodestone: migrate: {exc}", file=sys.stderr)
        return EXIT_BAD_DATA
    except (DataTooNew, DataDamaged, OSError) as exc:
        return start_failure(exc, "migrate") or EXIT_ERROR
    finally:
        store.close()
    for line in report.lines():
        print(line)
    verb = "would upgrade" if args.dry_run else "upgraded"
    print(f"{report.objects} objects, {verb} {report.stale() if args.dry_run else report.upgraded} records")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from daemon.service import keys

    try:
        config = load_config(args.config, {"data_dir": args.data_dir}, os.environ)
        keys.command(args.keys_command, config.data_dir, config.curve_client_keys,
                     getattr(args, "name", None), getattr(args, "out", None))
    except (ConfigError, ValueError, OSError) as exc:
        print(f"lodestone: keys {args.keys_command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_ERROR
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lodestone`` command; return its exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "gateway":
        return _gateway(args)
    if args.command in ("backup", "restore", "verify"):
        return _operate(args)
    if args.command == "migrate":
        return _migrate(args)
    if args.command == "keys":
        return _keys(args)
    if args.command == "cluster":
        return _cluster(args)
    try:
        curve = curve_keys(args)
    except (ValueError, OSError) as exc:
        print(f"lodestone: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "tail":
        return tail(args, curve)
    return client_command(args, curve)

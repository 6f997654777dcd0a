"""The ``lodestone`` commands that talk to a running daemon: queries, the change stream, one object's keys.

Each prints JSON (one value, or one line per entry) and returns an exit code
(:mod:`daemon.exit_codes`). They go through the Python clients in ``bridge``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from daemon.exit_codes import EXIT_ERROR, EXIT_NO_REPLY, EXIT_USAGE


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    return repr(value)


def curve_keys(args: argparse.Namespace) -> Any:
    """The ``CurveKeys`` that ``--server-key`` and ``--client-key`` name, or ``None``; raises ``ValueError``."""
    from bridge import CurveKeys

    if args.server_key is None and args.client_key is None:
        return None
    if args.server_key is None or args.client_key is None:
        raise ValueError("--server-key and --client-key go together")
    return CurveKeys.load(args.server_key, args.client_key)


def tail(args: argparse.Namespace, curve: Any) -> int:
    from bridge import Subscriber

    printed = 0
    with Subscriber(args.pub, topics=(args.prefix,), curve=curve) as subscriber:
        try:
            while args.count is None or printed < args.count:
                event = subscriber.recv()
                print_json({"topic": event.topic, **event.body})
                sys.stdout.flush()
                printed += 1
        except KeyboardInterrupt:
            pass
    return 0


def client_command(args: argparse.Namespace, curve: Any) -> int:
    from bridge import Client, LodestoneError, Timeout

    with Client(args.endpoint, timeout=args.timeout, retries=0, curve=curve) as client:
        try:
            return _run_client_command(client, args)
        except Timeout as exc:
            hint = "" if curve is not None else " (if it has [security] curve = true: --server-key and --client-key)"
            print(f"lodestone: {exc}; is the daemon running?{hint}", file=sys.stderr)
            return EXIT_NO_REPLY
        except LodestoneError as exc:
            print(f"lodestone: {exc.code}: {exc}", file=sys.stderr)
            return EXIT_ERROR


def _run_client_command(client: Any, args: argparse.Namespace) -> int:
    if args.command == "ping":
        print_json(client.ping())
        return 0
    if args.command == "stats":
        print_json(client.stats())
        return 0
    if args.command == "health":
        report = client.health()
        print_json(report)
        return 0 if report.get("status") == "ok" else EXIT_ERROR
    if args.command == "alarms":
        alarm_args: dict[str, Any] = {"limit": args.limit}
        if args.due:
            alarm_args["due_by_ms"] = time.time_ns() // 1_000_000
        for entry in client.call("alarms.list", args=alarm_args)["alarms"]:
            print_json(entry)
        return 0
    if args.command == "ls":
        for entry in client.objects(args.class_name, limit=args.limit):
            print_json(entry)
        return 0
    obj = client.object(args.class_name, args.name)
    if args.command == "inspect":
        entries = obj.list(limit=args.limit + 1)
        print_json({
            "class": args.class_name,
            "name": args.name,
            "id": client.id_from_name(args.class_name, args.name),
            "alarm_at_ms": client.call("alarm.get", obj.target)["at_ms"],
            "entries": dict(entries[: args.limit]),
            "truncated": len(entries) > args.limit,
        })
        return 0
    if args.command == "get":
        missing = object()
        value = obj.get(args.key, missing)
        if value is missing:
            print(f"lodestone: key {args.key!r} not found", file=sys.stderr)
            return EXIT_ERROR
        print_json(value)
    elif args.command == "put":
        if args.string:
            value = args.value
        else:
            try:
                value = json.loads(args.value)
            except json.JSONDecodeError as exc:
                print(f"lodestone: VALUE is not JSON ({exc}); use --string to store text", file=sys.stderr)
                return EXIT_USAGE
        obj.put(args.key, value)
    elif args.command == "list":
        for key, value in obj.list(
            start=args.start,
            start_after=args.start_after,
            end=args.end,
            prefix=args.prefix,
            reverse=args.reverse,
            limit=args.limit,
        ):
            print_json([key, value])
    elif args.command == "delete":
        print_json(obj.delete_many(args.keys) if len(args.keys) > 1 else int(obj.delete(args.keys[0])))
    return 0



"""`yunguan devices load`, `yunguan thresholds load` and `yunguan lifeline` (contract §10, docs/lifeline.md).

A file with problems prints every one (with its line or feature) on stderr, writes nothing and exits 2 (bad
input, contract §1)."""
from __future__ import annotations

import json
from pathlib import Path

from config import Settings
from yunguan.cli.common import UsageError, say, wiring


def register(sub) -> None:
    devices = sub.add_parser("devices", help="the lifeline device registry").add_subparsers(
        dest="devices_command", required=True)
    load = devices.add_parser("load", help="insert or update devices from CSV or GeoJSON "
                              "(device_id, kind, lon, lat, crs, unit[, name][, network])")
    load.add_argument("path")
    load.set_defaults(func=cmd_devices_load)
    thresholds = sub.add_parser("thresholds", help="lifeline alarm thresholds").add_subparsers(
        dest="thresholds_command", required=True)
    tload = thresholds.add_parser("load", help="replace the thresholds of the kinds in a YAML file")
    tload.add_argument("path")
    tload.set_defaults(func=cmd_thresholds_load)
    sub.add_parser("lifeline", help="consume sensors.readings: readings, alarms, urgent tickets, offline "
                   "devices").set_defaults(func=cmd_lifeline)


def _refuse(problems: list[str]) -> UsageError:
    return UsageError(f"{len(problems)} problem(s), nothing written:\n  " + "\n  ".join(problems))


def cmd_devices_load(settings: Settings, args) -> int:
    from application.lifeline import InputError, load_devices, read_devices
    from application.routing import RoutingCache
    from store.db import make_engine

    try:
        found = read_devices(Path(args.path))
    except InputError as exc:
        raise _refuse(exc.problems) from None
    engine = make_engine(settings.database_url)
    cache = RoutingCache.from_settings(engine, settings)
    try:
        result = load_devices(engine, found, cache(), _now())
    except InputError as exc:
        raise _refuse(exc.problems) from None
    finally:
        cache.close()
        engine.dispose()
    say(json.dumps(result))
    return 0


def cmd_thresholds_load(settings: Settings, args) -> int:
    import yaml

    from application.lifeline import InputError, load_thresholds
    from store.db import make_engine

    path = Path(args.path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise _refuse([f"{path}: {where}not YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    engine = make_engine(settings.database_url)
    try:
        result = load_thresholds(engine, data)
    except InputError as exc:
        raise _refuse(exc.problems) from None
    finally:
        engine.dispose()
    say(json.dumps(result))
    return 0


def cmd_lifeline(settings: Settings, args) -> int:
    import signal
    import threading

    from streams.lifeline import run_supervised
    from yunguan.wiring import build_lifeline

    deps = wiring(settings)
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    consumer = build_lifeline(deps)
    _collect_rarely()
    try:
        run_supervised(consumer, stop)
    finally:
        deps.close()
    return 0


def _collect_rarely() -> None:
    """The cyclic garbage collector, tuned for a process that makes a few short-lived objects per reading at
    tens of thousands a second, nearly none of them in cycles (reference counting frees them): what start-up
    made is frozen out of every collection, and a young collection waits for 100,000 new objects instead of
    700. Measured with a batch of 2,000: 13.6 → 10.7 µs of consumer CPU per reading (docs/benchmarks.md)."""
    import gc

    gc.freeze()
    gc.set_threshold(100_000, 20, 20)


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)

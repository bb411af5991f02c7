"""Bringing the platform up: services, migrations, topics, the envelope schema, the demo."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from config import Settings
from yunguan.cli.common import UsageError, say, wiring


def cmd_up(settings: Settings, args) -> int:
    from store.db import make_engine
    from store.migrate import upgrade
    from store.roles import app_url
    from streams.topics import Topics, create_topics
    from yunguan.services import ensure_app_login, ensure_broker, ensure_postgres

    ensure_postgres(settings.database_url, say)
    if not args.no_broker:
        ensure_broker(settings.kafka_bootstrap, settings.state_path, say)
        created = create_topics(settings.kafka_bootstrap, Topics(settings.topic_prefix), settings.topic_partitions)
        say(f"Kafka: topics ready ({len(created)} created, {settings.topic_partitions} partitions each)")
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        say("database: migrations applied (head)")
        _reseal(engine, settings)
    finally:
        engine.dispose()
    ensure_app_login(settings.database_url, app_url(settings.database_url, settings.app_database_url), say)
    say("up: ready")
    return 0


def _reseal(engine, settings: Settings) -> None:
    """TOTP secrets stored in clear (before migration 0020) or under an older `totp_key` are sealed under the
    current one (store.sealing); said only when there was something to do."""
    from store.sealing import Sealer, reseal_totp

    with engine.begin() as conn:
        done = reseal_totp(conn, Sealer.from_settings(settings))
    if done["sealed"]:
        say(f"database: {done['sealed']} TOTP secret(s) sealed under the current totp_key")
    if done["unopenable"]:
        say(f"database: {done['unopenable']} TOTP secret(s) open with no configured totp_key; those accounts "
            "must enrol again (`yunguan users totp NAME`)", err=True)


def cmd_down(settings: Settings, args) -> int:
    from yunguan.services import stop_broker

    stop_broker(settings.state_path, say)
    return 0


def cmd_db_upgrade(settings: Settings, args) -> int:
    from store.db import make_engine
    from store.migrate import current_revision, upgrade
    from store.roles import app_url
    from yunguan.services import ensure_app_login

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        say(f"database at revision {current_revision(engine)}")
        _reseal(engine, settings)
    finally:
        engine.dispose()
    ensure_app_login(settings.database_url, app_url(settings.database_url, settings.app_database_url), say)
    return 0


def cmd_topics_create(settings: Settings, args) -> int:
    from streams.topics import Topics, create_topics

    topics = Topics(settings.topic_prefix)
    created = create_topics(settings.kafka_bootstrap, topics, settings.topic_partitions)
    say(f"topics: {', '.join(topics.all)} ready ({len(created)} created)")
    return 0


def cmd_schema(settings: Settings, args) -> int:
    from application.envelope import json_schema

    text = json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


DEMO_SENSOR_SEED = 18


def demo_child_env(settings: Settings, environ) -> dict[str, str]:
    """The environment of the demo's processes. Without a configured secret key they share a random one for
    this run (sessions end with it); but the keys that must outlive the run are this process's, not derived
    from that random one: sealed TOTP secrets and signed audit checkpoints must open and verify with
    `yunguan users totp` / `yunguan audit verify` run later from the same configuration."""
    import secrets

    from store.audit import checkpoint_key
    from store.sealing import Sealer

    env = dict(environ)
    env.setdefault("YUNGUAN_TOTP_KEY", ",".join(Sealer.from_settings(settings).keys))
    env.setdefault("YUNGUAN_AUDIT_KEY", checkpoint_key(settings).decode())
    env.setdefault("YUNGUAN_SECRET_KEY", secrets.token_hex(32))
    # 赛马 as a city would run it: a unit with a handful of cases in the month is listed, not ranked (the
    # default of 1 ranks everything, as contract §8 states; docs/evaluation.md).
    env.setdefault("YUNGUAN_EVALUATION_MIN_DISPATCHED", "10")
    return env


def cmd_demo(settings: Settings, args) -> int:
    from store.db import make_engine
    from yunguan.demo import load_demo_data

    # Loading data needs only the database: --data-only never starts a broker it would leave running.
    if args.sensors < 0 or args.sensors > 100_000:
        raise UsageError("--sensors takes a number of devices from 0 to 100000")
    cmd_up(settings, argparse.Namespace(no_broker=args.data_only))
    engine = make_engine(settings.database_url)
    try:
        accounts = load_demo_data(engine, say)
    finally:
        engine.dispose()
    if args.data_only:
        _print_accounts(accounts, None)
        return 0
    if args.history:
        from yunguan.demo import load_demo_history

        deps = wiring(settings)
        try:
            load_demo_history(deps.engine, settings, deps.topics, say, args.history)
        finally:
            deps.close()
    env = demo_child_env(settings, os.environ)
    exe = [sys.executable, "-m", "yunguan.cli"]
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    children = [
        subprocess.Popen([*exe, "serve", "--host", host, "--port", str(port)], env=env),
        subprocess.Popen([*exe, "worker"], env=env),
        subprocess.Popen([*exe, "simulate", "--rate", str(args.rate), "--duration", "0"], env=env),
        subprocess.Popen([*exe, "lifeline"], env=env),
        subprocess.Popen([*exe, "notify"], env=env),
    ]
    if args.sensors:  # lifeline devices, registered by the simulator, reporting every 10 s
        children.append(subprocess.Popen([*exe, "simulate", "--sensors", str(args.sensors), "--seed",
                                          str(DEMO_SENSOR_SEED), "--duration", "0"], env=env))
    url = f"http://{host}:{port}/console"
    _print_accounts(accounts, url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            if any(c.poll() is not None for c in children):
                say("demo: a process exited; stopping the others")
                break
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    for c in children:
        if c.poll() is None:
            c.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for c in children:
        try:
            c.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            c.kill()
    say("demo: stopped (the broker keeps running; `yunguan down` stops it)")
    return 0


def _print_accounts(accounts, url) -> None:
    if url:
        say(f"\n  console: {url}")
    say(f"  demo accounts (password for all: {accounts[0][1]}):")
    for username, _, what in accounts:
        say(f"    {username:<10} {what}")
    say("")


# ---------------------------------------------------------------- parser

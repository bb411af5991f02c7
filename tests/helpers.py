"""Shared test helpers: waiting with a deadline (never sleep-and-hope), free ports."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll until `condition()` is truthy; return its value or fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except AssertionError as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f": {last_error}" if last_error else ""))


@contextmanager
def running(consumer, name: str) -> Iterator[None]:
    """`consumer.run(stop)` in a thread for the block; afterwards it must have stopped, and without raising."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def _run():
        try:
            consumer.run(stop)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=_run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive() and not errors, errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def worker_env(settings, **extra) -> dict:
    """The environment of a `yunguan` subprocess that uses these settings' database, broker, topics and group;
    `extra` sets more keys (`group_recovery="false"` → YUNGUAN_GROUP_RECOVERY)."""
    import os

    env = dict(os.environ)
    env.update({
        "YUNGUAN_DATABASE_URL": settings.database_url, "YUNGUAN_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "YUNGUAN_TOPIC_PREFIX": settings.topic_prefix, "YUNGUAN_WORKER_GROUP": settings.worker_group,
        "YUNGUAN_MAX_POLL_INTERVAL_MS": str(settings.max_poll_interval_ms),
        "YUNGUAN_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms),
        "YUNGUAN_SECRET_KEY": settings.secret_key, "YUNGUAN_WORKER_BATCH_SIZE": "50",
        "YUNGUAN_HEARTBEAT_S": str(settings.heartbeat_s), "YUNGUAN_STATE_DIR": settings.state_dir,
        **{f"YUNGUAN_{k.upper()}": str(v) for k, v in extra.items()},
    })
    return env


def publish_envelopes(bootstrap: str, topics, envelopes: list[dict]) -> None:
    """Put report envelopes on their channel's topic and wait for the broker's acknowledgement of each."""
    import json

    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    futures = [producer.send(topics.report(e["channel"]), key=e["report_id"].encode(), value=json.dumps(e).encode())
               for e in envelopes]
    producer.flush()
    for f in futures:
        f.get(10)
    producer.close()


def wedge_group(bootstrap: str, group: str, topics: list[str]) -> None:
    """Tansu's wedge, as the issue measured it: a member that becomes leader of a forming group leaves while a
    second member joins. The group never forms again."""
    from confluent_kafka import Consumer

    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 10000, "max.poll.interval.ms": 10000,
            "heartbeat.interval.ms": 3000}
    leader = Consumer(conf)
    leader.subscribe(topics)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        leader.poll(0.2)
    second = Consumer(conf)
    second.subscribe(topics)
    for _ in range(5):
        second.poll(0.2)
    leader.close()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        second.poll(0.2)
    assignment = second.assignment()
    second.close()
    assert not assignment, "the group formed: the wedge was not reproduced, so this test would prove nothing"

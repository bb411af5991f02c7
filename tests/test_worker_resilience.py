"""The worker as a real process: kill -9 mid-stream, restart, SIGTERM; reconcile; dead-letter replay."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import create_engine, text

from streams.failures import Breaker, BreakerOpen
from streams.topics import stable_members
from streams.worker import DurabilityOff, MissingTopic, check_durability
from tests.helpers import publish_envelopes, wait_for, worker_env

pytestmark = pytest.mark.integration

POINT = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}


def _env(settings) -> dict:
    return worker_env(settings)


def _start_worker(settings, log_path, **extra):
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "yunguan.cli", "worker"], env=worker_env(settings, **extra),
                            stdout=log, stderr=subprocess.STDOUT)


def _publish(settings, topics, envelopes: list[dict]) -> None:
    publish_envelopes(settings.kafka_bootstrap, topics, envelopes)


def _envelope(i: int, channel: str = "grid") -> dict:
    # ~80 m apart: farther than the category's merge distance, so every report is a case of its own.
    point = {"lon": 125.40 + (i % 50) * 0.001, "lat": 43.70 + (i // 50) * 0.001, "crs": "wgs84"}
    return {"schema": "report/1", "report_id": f"k-{i:05d}", "channel": channel,
            "reported_at": "2026-11-22T09:00:00+08:00", "category": "020102", "location": point}


def _count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_kill_9_mid_stream_loses_nothing_and_duplicates_nothing(settings, deps, engine, tmp_path):
    n = 1500
    channels = ("grid", "hotline", "public", "sensor")
    _publish(settings, deps.topics, [_envelope(i, channels[i % 4]) for i in range(n)])

    first = _start_worker(settings, tmp_path / "worker1.log")
    try:
        wait_for(lambda: _count(engine, "SELECT count(*) FROM tickets") >= 100, 60, what="the first tickets")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    at_kill = _count(engine, "SELECT count(*) FROM tickets")
    assert at_kill < n, "the worker finished before it was killed; the test proves nothing"

    # Redeliver part of the stream as well: a producer retry must not make a second ticket either.
    _publish(settings, deps.topics, [_envelope(i, channels[i % 4]) for i in range(0, 200)])

    second = _start_worker(settings, tmp_path / "worker2.log")
    try:
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") == n, 120, interval=0.2,
                 what=f"{n} reports after the restart")
        wait_for(lambda: _count(engine, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0, 60,
                 what="the outbox to drain")
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(30)
    assert code == 0, (tmp_path / "worker2.log").read_text()[-2000:]
    assert _count(engine, "SELECT count(*) FROM tickets") == n
    assert _count(engine, "SELECT count(*) FROM reports WHERE ticket_id IS NULL") == 0
    assert _count(engine, "SELECT count(DISTINCT (channel, report_id)) FROM reports") == n

    # Every ticket's event reached tickets.events (at least once; a crash may repeat one, never invent one).
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=1500)
    tps = [TopicPartition(deps.topics.ticket_events, p)
           for p in consumer.partitions_for_topic(deps.topics.ticket_events)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    published = {json.loads(m.value)["ticket_no"] for m in consumer}
    consumer.close()
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT ticket_no FROM tickets")).scalars())
    assert published == stored


def test_two_workers_with_a_rebalance_on_join_and_on_leave_make_exactly_one_ticket_each(
        settings, deps, engine, tmp_path):
    """Several workers share the partitions: one joins mid-stream (a rebalance hands partitions over while
    batches are in flight), then the first leaves with SIGTERM and the second finishes alone."""
    n = 8000
    channels = ("grid", "hotline", "public", "sensor")
    _publish(settings, deps.topics, [_envelope(i, channels[i % 4]) for i in range(n)])
    # The first worker leaves as soon as it is told: the test waits for a stable group of two before it says
    # so (no wedge to fear), and a worker waiting for its group to settle would finish the stream first.
    first = _start_worker(settings, tmp_path / "worker1.log", leave_settle_s=0)
    second = None
    try:
        wait_for(lambda: _count(engine, "SELECT count(*) FROM tickets") >= 100, 60, what="the first tickets")
        second = _start_worker(settings, tmp_path / "worker2.log")
        wait_for(lambda: stable_members(settings.kafka_bootstrap, settings.worker_group) == 2, 60, interval=0.2,
                 what="both workers in the group")
        at_join = _count(engine, "SELECT count(*) FROM tickets")
        assert at_join < n, "the stream was done before the second worker joined; the test proves nothing"
        wait_for(lambda: _count(engine, "SELECT count(*) FROM tickets") >= at_join + 200, 60, interval=0.1,
                 what="tickets with both workers consuming")
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0, (tmp_path / "worker1.log").read_text()[-2000:]
        at_leave = _count(engine, "SELECT count(*) FROM tickets")
        assert at_leave < n, "the stream was done before the first worker left; the test proves nothing"
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") == n, 120, interval=0.2,
                 what=f"{n} reports with the second worker alone")
        wait_for(lambda: _count(engine, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0, 60,
                 what="the outbox to drain")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, (tmp_path / "worker2.log").read_text()[-2000:]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert _count(engine, "SELECT count(*) FROM tickets") == n
    assert _count(engine, "SELECT count(*) FROM reports WHERE ticket_id IS NULL") == 0
    assert _count(engine, "SELECT count(DISTINCT (channel, report_id)) FROM reports") == n


def test_worker_refuses_to_start_when_an_intake_topic_is_missing(base_settings, clean_db):
    """No topic auto-creation: a worker pointed at topics nobody created stops and names them."""
    import threading

    from yunguan.wiring import build, build_worker

    prefix = f"absent{uuid.uuid4().hex[:6]}."
    deps = build(base_settings.replace(topic_prefix=prefix, worker_group=f"{prefix}worker"))
    try:
        with pytest.raises(MissingTopic, match=rf"{prefix}reports\.grid"):
            build_worker(deps).run(threading.Event())
        assert not any(t.startswith(prefix) for t in _topic_names(base_settings.kafka_bootstrap)), \
            "asking for a missing topic must not create it"
    finally:
        deps.close()


def _topic_names(bootstrap: str) -> set[str]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return set(consumer.topics())
    finally:
        consumer.close()


def test_a_dead_letter_the_broker_did_not_take_is_not_committed_past(settings, deps):
    """If the dead-letter send fails, the worker stops before committing; the next worker gets the message
    again and dead-letters it then: nothing is lost between the intake topic and reports.dlq."""
    import threading
    from functools import partial

    from streams import rdkafka
    from streams.producer import BrokerUnavailable
    from tests.helpers import free_port
    from yunguan.wiring import build_worker

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    sent = producer.send(deps.topics.report("public"), key=b"bad", value=b"not json").get(10)
    producer.close()

    failing = build_worker(deps)  # consumes from the real broker, sends to an address where none answers
    failing.send = partial(rdkafka.send_confirmed,
                           rdkafka.make_producer(f"127.0.0.1:{free_port()}", request_timeout_ms=1000), timeout_s=3)
    with pytest.raises(BrokerUnavailable):
        failing.run(threading.Event())
    assert failing.stats.dead_letters == 0 and failing.stats.batches == 0

    working = build_worker(deps)
    stop = threading.Event()
    thread = threading.Thread(target=working.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: working.stats.dead_letters == 1, 60, what="the message dead-lettered on the second try")
    finally:
        stop.set()
        thread.join(20)
    consumer = KafkaConsumer(deps.topics.dlq, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=1500)
    letters = [json.loads(m.value) for m in consumer]
    consumer.close()
    assert [(x["topic"], x["partition"], x["offset"]) for x in letters] == [(sent.topic, sent.partition, sent.offset)]


def test_worker_refuses_to_run_without_synchronous_commit(base_settings):
    engine = create_engine(base_settings.database_url, connect_args={"options": "-c synchronous_commit=off"})
    try:
        with pytest.raises(DurabilityOff, match="synchronous_commit"):
            check_durability(engine)
    finally:
        engine.dispose()


def test_breaker_trips_only_when_nearly_everything_is_invalid():
    breaker = Breaker(window=100, threshold=0.95)
    breaker.record(valid=0, invalid=40)  # a bad burst, not a broken system
    breaker.record(valid=6, invalid=54)  # 94 % of the last 100 are invalid: still below the threshold
    with pytest.raises(BreakerOpen, match="invalid"):
        breaker.record(valid=0, invalid=100)


def test_reconcile_lists_and_republishes_accepted_reports_without_ticket(settings, deps, worker, clean_db):
    engine = clean_db
    from store import intake_log

    envelope = _envelope(1, "public")
    envelope["report_id"] = f"lost-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:  # accepted over HTTP, then lost by a memory-only broker
        intake_log.claim(conn, "public", envelope["report_id"], "0" * 64, envelope)
        conn.execute(text("UPDATE intake_log SET accepted_at = now() - interval '10 minutes' WHERE report_id = :r"),
                     {"r": envelope["report_id"]})
    env = _env(settings)
    listed = subprocess.run([sys.executable, "-m", "yunguan.cli", "reconcile", "--grace", "60"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 1, listed.stderr
    assert json.loads(listed.stdout.splitlines()[0])["report_id"] == envelope["report_id"]

    fixed = subprocess.run([sys.executable, "-m", "yunguan.cli", "reconcile", "--grace", "60", "--republish"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert fixed.returncode == 0, fixed.stderr
    wait_for(lambda: _count(engine, f"SELECT count(*) FROM reports WHERE report_id = '{envelope['report_id']}' "
                                    "AND ticket_id IS NOT NULL") == 1, what="the re-published report's ticket")
    again = subprocess.run([sys.executable, "-m", "yunguan.cli", "reconcile", "--grace", "60"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout == ""


def test_dead_letters_can_be_listed_and_replayed(settings, deps, worker, engine):
    bad = b'{"schema": "report/1", "report_id": "needs-fix"'  # truncated JSON
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    producer.send(deps.topics.report("public"), key=b"needs-fix", value=bad).get(10)
    producer.close()
    wait_for(lambda: worker.stats.dead_letters == 1, what="the dead letter")
    env = _env(settings)
    listed = subprocess.run([sys.executable, "-m", "yunguan.cli", "dlq", "list"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    letter = json.loads(listed.stdout.splitlines()[0])
    assert "not JSON" in letter["reason"] and letter["origin"].startswith(deps.topics.report("public"))

    replay = subprocess.run([sys.executable, "-m", "yunguan.cli", "dlq", "replay", "--offset", letter["dlq"]],
                            env=env, capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    # The same bytes went back to the original topic; still broken, so the worker dead-letters them again.
    wait_for(lambda: worker.stats.dead_letters == 2, what="the replayed letter to be processed again")
    # Replaying the same letter again is refused (it was replayed once; the listing says where to) ...
    twice = subprocess.run([sys.executable, "-m", "yunguan.cli", "dlq", "replay", "--offset", letter["dlq"]],
                           env=env, capture_output=True, text=True, timeout=60)
    assert twice.returncode == 0 and "replayed before" in twice.stderr, twice.stderr
    listed = subprocess.run([sys.executable, "-m", "yunguan.cli", "dlq", "list"], env=env,
                            capture_output=True, text=True, timeout=60)
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(letters) == 2 and letters[0]["replayed_to"].startswith(deps.topics.report("public"))
    assert letters[1]["replayed_to"] is None
    # ... so no third dead letter appears: the worker's count stays at 2 while it consumes on.
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    producer.send(deps.topics.report("public"), key=b"k", value=json.dumps(_envelope(1, "public")).encode()).get(10)
    producer.close()
    wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") == 1, what="a later good report")
    assert worker.stats.dead_letters == 2

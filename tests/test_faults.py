"""The fault suite: a paused broker, terminated database connections, a wedged consumer group, kill -9 in a
loop. Each runs on the real services (a broker of its own where the fault would disturb other tests) and
ends by counting: every report published or answered 202 has exactly one ticket row, every report answered
503 has none."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from confluent_kafka import Consumer
from sqlalchemy import text

from streams.groups import committed_offsets
from streams.topics import Topics, create_topics
from tests.helpers import free_port, publish_envelopes, wait_for, wedge_group, worker_env

pytestmark = pytest.mark.integration


def _quiet(_: str) -> None:
    pass


@pytest.fixture
def own_broker():
    """A Tansu of this test's own: pausing or wedging it disturbs no other test. Yields (bootstrap, pid)."""
    from yunguan.services import ensure_broker, stop_broker

    state = Path(tempfile.mkdtemp(prefix="yunguan-fault-broker-"))
    bootstrap = f"127.0.0.1:{free_port()}"
    ensure_broker(bootstrap, state, _quiet)
    pid = int((state / "tansu.pid").read_text())
    yield bootstrap, pid
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    stop_broker(state, _quiet)


@pytest.fixture
def settings(base_settings, own_broker):
    """Overrides conftest's: this module's topics live on its own broker."""
    prefix = f"f{uuid.uuid4().hex[:10]}."
    s = base_settings.replace(kafka_bootstrap=own_broker[0], topic_prefix=prefix, worker_group=f"{prefix}worker")
    create_topics(s.kafka_bootstrap, Topics(prefix), s.topic_partitions)
    return s


def _envelope(i: int, channel: str = "grid", prefix: str = "f") -> dict:
    point = {"lon": 125.40 + (i % 50) * 0.001, "lat": 43.70 + (i // 50) * 0.001, "crs": "wgs84"}
    return {"schema": "report/1", "report_id": f"{prefix}-{i:05d}", "channel": channel,
            "reported_at": "2026-11-22T09:00:00+08:00", "category": "020102", "location": point}


def _publish(settings, envelopes: list[dict]) -> None:
    publish_envelopes(settings.kafka_bootstrap, Topics(settings.topic_prefix), envelopes)


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _exactly_once(engine, ids: list[str]) -> None:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT report_id, count(*) AS n, bool_and(ticket_id IS NOT NULL) AS linked "
                                 "FROM reports WHERE report_id = ANY(:ids) GROUP BY report_id"), {"ids": ids}).all()
    found = {r.report_id: r for r in rows}
    lost = [i for i in ids if i not in found]
    assert not lost, f"{len(lost)} report(s) lost, e.g. {lost[:5]}"
    assert all(r.n == 1 and r.linked for r in rows)
    assert _count(engine, "SELECT count(*) FROM reports") == _count(engine, "SELECT count(DISTINCT (channel, report_id)) "
                                                                             "FROM reports")


def _topic_ends(settings) -> dict[tuple[str, int], int]:
    """The end of each intake partition as fetch responses report it. (Tansu's ListOffsets answers the last
    record batch's base offset + 1, short of the end when a batch holds several records.)"""
    from confluent_kafka import TopicPartition as CTP

    topics = Topics(settings.topic_prefix)
    reader = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"ends-{uuid.uuid4().hex}",
                       "enable.auto.commit": False})
    try:
        tps = [CTP(t, p, 0) for t in topics.intake for p in range(settings.topic_partitions)]
        reader.assign(tps)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 1.0:
            if reader.consume(500, 0.2):
                quiet_since = time.monotonic()
        return {(tp.topic, tp.partition): max(reader.get_watermark_offsets(tp, cached=True)[1], 0) for tp in tps}
    finally:
        reader.close()


def _consumed_to_the_end(settings) -> bool:
    """The worker group has committed past every message on the intake topics."""
    ends = _topic_ends(settings)
    done = committed_offsets(settings.kafka_bootstrap, settings.worker_group)
    return all(done.get(key, 0) >= end for key, end in ends.items())


class SupervisedWorker:
    """`yunguan worker`'s supervision loop (back off, replay) on a thread, stopped like SIGTERM stops it."""

    def __init__(self, deps) -> None:
        from streams.worker import run_supervised
        from yunguan.wiring import build_worker

        self.worker = build_worker(deps)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

        def _run():
            try:
                run_supervised(self.worker, self.stop, max_backoff_s=2.0)
            except BaseException as exc:  # noqa: BLE001 - surfaced by close()
                self.errors.append(exc)

        self.thread = threading.Thread(target=_run, name="supervised-worker", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=40)
        assert not self.thread.is_alive(), "worker did not stop"
        assert not self.errors, self.errors


def _post(base: str, report_id: str, timeout: float = 30) -> requests.Response:
    body = {"report_id": report_id, "reported_at": "2026-11-22T09:00:00+08:00", "category": "020102",
            "location": {"lon": 125.4388, "lat": 43.7126 + int(report_id[-3:]) * 0.001, "crs": "wgs84"}}
    return requests.post(f"{base}/api/v1/reports", json=body, timeout=timeout)


def test_broker_pause_http_intake_answers_503_then_recovers_and_503_is_never_ticketed(own_broker, deps, server,
                                                                                      engine):
    base, _ = server
    worker = SupervisedWorker(deps)
    try:
        assert _post(base, "http-000").status_code == 202
        os.kill(own_broker[1], signal.SIGSTOP)
        paused_at = time.monotonic()
        try:
            answers = {}
            for i in range(1, 5):
                r = _post(base, f"http-{i:03d}")
                answers[f"http-{i:03d}"] = r
            assert all(r.status_code == 503 for r in answers.values()), {k: r.status_code for k, r in answers.items()}
            for r in answers.values():
                assert r.json()["error"]["code"] == "broker_unavailable"
                assert int(r.headers["Retry-After"]) >= 1
            ready = requests.get(f"{base}/readyz", timeout=30)
            assert ready.status_code == 503 and "not acknowledging" in ready.json()["checks"]["broker"], ready.text
            # Hold the fault for the 20 s the issue measured (a fault's duration, not a wait for a result).
            time.sleep(max(0.0, paused_at + 20 - time.monotonic()))
        finally:
            os.kill(own_broker[1], signal.SIGCONT)
        # No restart: the web process makes a new producer by itself.
        accepted = []

        def _accepted_again():
            rid = f"http-{100 + len(accepted):03d}"
            r = _post(base, rid)
            if r.status_code == 202:
                accepted.append(rid)
            return r.status_code == 202
        wait_for(_accepted_again, 60, interval=0.5, what="HTTP intake to accept again after the broker resumed")
        # A refused report retried with the same body is accepted once.
        assert _post(base, "http-001").status_code == 202
        expected = ["http-000", "http-001", *accepted]
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports WHERE report_id = ANY(:ids)",
                                ids=expected) == len(expected), 60, what="the accepted reports' tickets")
        wait_for(lambda: _consumed_to_the_end(deps.settings), 60, what="the worker to consume every message")
        _exactly_once(engine, expected)
        refused = ["http-002", "http-003", "http-004"]
        assert _count(engine, "SELECT count(*) FROM reports WHERE report_id = ANY(:ids)", ids=refused) == 0
        assert requests.get(f"{base}/readyz", timeout=10).json()["checks"]["broker"] == "ok"
    finally:
        worker.close()


def test_database_connections_terminated_mid_batch_lose_and_duplicate_nothing(deps, engine):
    n = 1200
    _publish(deps.settings, [_envelope(i, ("grid", "hotline", "public", "sensor")[i % 4]) for i in range(n)])
    deps.settings = deps.settings.replace(worker_batch_size=10)  # many small batches: the kills land mid-stream
    worker = SupervisedWorker(deps)
    killed = []
    try:
        for k in range(1, 4):
            wait_for(lambda k=k: _count(engine, "SELECT count(*) FROM reports") >= k * 200, 90,
                     what=f"{k * 200} reports before termination {k}")
            with engine.connect() as conn:
                killed.append(conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")).scalar())
            assert _count(engine, "SELECT count(*) FROM reports") < n, "finished before the termination"
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= n, 180, what="every report")
    finally:
        worker.close()
    assert all(k >= 1 for k in killed), killed
    _exactly_once(engine, [f"f-{i:05d}" for i in range(n)])
    assert _count(engine, "SELECT count(*) FROM tickets") == n
    assert worker.worker.stats.dead_letters == 0


def test_a_wedged_group_is_reported_and_recovered_keeping_offsets(deps, engine, server):
    from store import heartbeats

    base, _ = server
    s = deps.settings
    topics = Topics(s.topic_prefix)
    _publish(s, [_envelope(i) for i in range(30)])
    first = SupervisedWorker(deps)
    try:
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= 30, 60, what="the first 30 reports")
        wait_for(lambda: _consumed_to_the_end(s), 30, what="their offsets committed")
    finally:
        first.close()
    saved = committed_offsets(s.kafka_bootstrap, s.worker_group)
    assert sum(saved.values()) == 30

    wedge_group(s.kafka_bootstrap, s.worker_group, list(topics.intake))
    _publish(s, [_envelope(i) for i in range(30, 60)])
    second = SupervisedWorker(deps)
    try:
        # The stall is visible: the worker says it is stuck, and /readyz answers 503 naming it.
        def _stuck():
            with engine.begin() as conn:
                beats = heartbeats.recent(conn, s.worker_group, deps.clock())
            return any(b.state == "stuck" and b.worker_id == second.worker.progress.worker_id for b in beats)
        wait_for(_stuck, 60, interval=0.2, what="the worker to report itself stuck")
        ready = requests.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 503 and "stuck" in ready.json()["checks"]["intake"], ready.text
        codes = {p["code"] for p in ready.json()["problems"]["intake"]}
        assert codes & {"worker_lagging", "worker_unassigned"}, ready.text  # a page can word it in Chinese
        # ... and it recovers by itself, keeping the committed offsets: nothing is replayed, nothing lost.
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= 60, 120, what="the reports behind the wedge")
        wait_for(lambda: _consumed_to_the_end(s), 30, what="their offsets committed")
        assert second.worker.stats.messages == 30, "the recovered group replayed messages committed before it"
        ready = wait_for(lambda: (r := requests.get(f"{base}/readyz", timeout=10)).status_code == 200 and r, 30,
                         what="/readyz to turn ready again")
        assert ready.json()["checks"]["intake"] == "ok"
    finally:
        second.close()
    _exactly_once(engine, [f"f-{i:05d}" for i in range(60)])


def _worker_process(settings, log_path, **extra):
    return subprocess.Popen([sys.executable, "-m", "yunguan.cli", "worker"], env=worker_env(settings, **extra),
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)


def _has_started(engine, deps, proc) -> bool:
    """The worker process wrote its first heartbeat: it has subscribed, its group is forming."""
    return bool(_beats_of(engine, deps, proc))


def _beats_of(engine, deps, proc):
    from store import heartbeats

    with engine.begin() as conn:
        return [b for b in heartbeats.recent(conn, deps.settings.worker_group, deps.clock()) if b.pid == proc.pid]


@contextlib.contextmanager
def _killed_after(procs: list):
    """Whatever worker processes the block started (appended to `procs`) are gone after it."""
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)


def test_kill_9_in_a_loop_during_load_loses_and_duplicates_nothing(deps, engine, tmp_path):
    n = 2400
    _publish(deps.settings, [_envelope(i, ("grid", "hotline", "public", "sensor")[i % 4]) for i in range(n)])
    kills = 0
    for round_ in range(3):
        proc = _worker_process(deps.settings, tmp_path / "worker.log")
        try:
            target = _count(engine, "SELECT count(*) FROM reports") + 200
            wait_for(lambda t=target: _count(engine, "SELECT count(*) FROM reports") >= t, 90,
                     what=f"progress before kill {round_ + 1}")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills += 1
        # Redeliveries as from a producer retry: must not make a second ticket either.
        _publish(deps.settings, [_envelope(i, ("grid", "hotline", "public", "sensor")[i % 4])
                                 for i in range(round_ * 100, round_ * 100 + 50)])
    assert _count(engine, "SELECT count(*) FROM reports") < n, "finished before the last kill; proves nothing"
    last = _worker_process(deps.settings, tmp_path / "worker.log")
    try:
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= n, 180, what="every report")
        wait_for(lambda: _consumed_to_the_end(deps.settings), 60, what="every offset committed")
    finally:
        last.send_signal(signal.SIGTERM)
        last.wait(40)
    assert kills == 3
    _exactly_once(engine, [f"f-{i:05d}" for i in range(n)])
    assert _count(engine, "SELECT count(*) FROM tickets") == n


def test_a_worker_stopped_while_a_second_one_joins_leaves_no_wedged_group(deps, engine, tmp_path):
    """The issue's trigger: SIGTERM a running worker just after a second one started. With the automatic
    recovery off, only the first worker's waiting for a settled group before it leaves keeps the group alive."""
    s = deps.settings
    _publish(s, [_envelope(i) for i in range(20)])
    with _killed_after([]) as procs:
        procs.append(first := _worker_process(s, tmp_path / "first.log", group_recovery="false"))
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= 20, 60, what="the first worker's tickets")
        procs.append(second := _worker_process(s, tmp_path / "second.log", group_recovery="false"))
        wait_for(lambda: _has_started(engine, deps, second), 30, interval=0.1, what="the second worker to start")
        first.send_signal(signal.SIGTERM)
        assert first.wait(40) == 0
        _publish(s, [_envelope(i) for i in range(20, 40)])
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= 40, 60,
                 what="the second worker to take over every partition")
        everything = len(Topics("").intake) * s.topic_partitions
        wait_for(lambda: [len(b.partitions) for b in _beats_of(engine, deps, second)] == [everything], 20,
                 what="the second worker's heartbeat to list every partition")
    _exactly_once(engine, [f"f-{i:05d}" for i in range(40)])


def test_a_worker_stopped_while_its_group_forms_leaves_no_wedged_group(deps, engine, tmp_path):
    """The issue's other trigger: start a worker and SIGTERM it while its group is still forming."""
    s = deps.settings
    _publish(s, [_envelope(i) for i in range(20)])
    with _killed_after([]) as procs:
        procs.append(first := _worker_process(s, tmp_path / "first.log", group_recovery="false"))
        wait_for(lambda: _has_started(engine, deps, first), 30, interval=0.05, what="the worker to start")
        first.send_signal(signal.SIGTERM)  # it has just subscribed: the group is forming
        assert first.wait(40) == 0
        procs.append(_worker_process(s, tmp_path / "second.log", group_recovery="false"))
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= 20, 60,
                 what="a new worker to get the partitions of the group")
    _exactly_once(engine, [f"f-{i:05d}" for i in range(20)])


def test_status_says_whether_intake_flows(deps, engine, capsys):
    from yunguan.cli import main

    env = {"YUNGUAN_DATABASE_URL": deps.settings.database_url, "YUNGUAN_KAFKA_BOOTSTRAP": deps.settings.kafka_bootstrap,
           "YUNGUAN_TOPIC_PREFIX": deps.settings.topic_prefix, "YUNGUAN_WORKER_GROUP": deps.settings.worker_group,
           "YUNGUAN_STUCK_AFTER_S": str(deps.settings.stuck_after_s), "YUNGUAN_HEARTBEAT_S": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert main(["status", "--json"]) == 1  # no worker yet
        report = json.loads(capsys.readouterr().out)
        assert report["problems"] == ["no intake worker is running (start `yunguan worker`)"], report["problems"]
        assert set(deps.topics.intake) <= set(report["topics"])
        _publish(deps.settings, [_envelope(i) for i in range(10)])
        worker = SupervisedWorker(deps)
        try:
            wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= 10, 60, what="10 reports")
            wait_for(lambda: _consumed_to_the_end(deps.settings), 30, what="their offsets committed")
            wait_for(lambda: main(["status"]) == 0, 30, interval=0.5, what="`yunguan status` to say intake flows")
            assert main(["status", "--json"]) == 0
            report = json.loads(capsys.readouterr().out.split("intake is flowing")[-1])
            assert report["total_lag"] == 0 and report["workers"][0]["state"] == "consuming"
        finally:
            worker.close()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_the_console_shows_a_stalled_intake_and_a_vanished_lifeline_consumer(page_for, make_user, deps, engine):
    """No worker runs here: the duty officer's console says so, with the reason, without a reload. A lifeline
    consumer that vanished without stopping (its last heartbeat says it was consuming) has a banner of its own."""
    from store import heartbeats

    now = datetime.now(UTC)
    with engine.begin() as conn:
        heartbeats.record(conn, heartbeats.Beat(
            worker_id="gone:4243:abcdef", group_id=deps.settings.lifeline_group, host="gone", pid=4243,
            started_at=now - timedelta(minutes=5), beat_at=now - timedelta(seconds=deps.settings.stuck_after_s * 2),
            state="consuming", reason=None, partitions=[], lag=0, assigned_at=None, committed_at=None,
            stuck_since=None, messages=0, dead_letters=0))
    make_user("duty", "operator", supervisor=True)
    page = page_for("duty")
    banner = page.locator("[data-test=intake-health]")
    banner.wait_for(state="visible", timeout=20_000)
    assert "受理" in banner.locator(".banner-title").inner_text()
    items = banner.locator(".banner-items").inner_text()
    assert "没有正在运行的受理进程" in items and "no intake worker" not in items, items  # worded from the code
    services = page.locator("[data-test=service-health]")
    services.wait_for(state="visible", timeout=20_000)
    said = services.inner_text()
    assert "后台服务异常" in said and "生命线监测" in said, said
    assert "监测进程 gone:4243:abcdef" in said and "没有正在运行的生命线监测进程" in said, said
    assert "lifeline consumer" not in said, said  # worded from the codes, not the English sentences
    assert not page.problems, page.problems
    # The monitoring view, whose map goes stale while no lifeline consumer runs, says so itself.
    monitor = page_for("duty", path="/monitor")
    stale = monitor.locator("[data-test=lifeline-health]")
    stale.wait_for(state="visible", timeout=20_000)
    assert "设备状态可能已过时" in stale.inner_text() and "监测进程 gone:4243:abcdef" in stale.inner_text()
    assert not monitor.problems, monitor.problems

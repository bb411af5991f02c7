"""Two web processes sharing the Socket.IO message queue (socketio_queue = "kafka"): they split
tickets.events in a consumer group, and every client, on either process, gets each event for its rooms
exactly once — none from another department."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter

import pytest
import requests
from kafka import KafkaProducer

from streams.topics import stable_members
from tests.helpers import free_port, wait_for
from tests.test_thin_path import _socket, _token

pytestmark = pytest.mark.integration

UNITS = ("220102-SANITATION", "220104-SANITATION")


@pytest.fixture
def two_web_processes(settings, clean_db, tmp_path):
    env = dict(
        os.environ, YUNGUAN_DATABASE_URL=settings.database_url, YUNGUAN_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        YUNGUAN_TOPIC_PREFIX=settings.topic_prefix, YUNGUAN_SECRET_KEY=settings.secret_key,
        YUNGUAN_SOCKETIO_QUEUE="kafka", YUNGUAN_MAX_POLL_INTERVAL_MS="3000", YUNGUAN_SESSION_TIMEOUT_MS="3000",
        YUNGUAN_STATE_DIR=str(tmp_path / "state"), YUNGUAN_MEDIA_DIR=str(tmp_path / "media"),
    )
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "yunguan.cli", "serve", "--host", "127.0.0.1", "--port", str(p)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for p in ports]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for base, proc in zip(bases, procs, strict=True):
            def up(base=base, proc=proc):
                assert proc.poll() is None, proc.stderr.read().decode()
                try:
                    checks = requests.get(f"{base}/readyz", timeout=2).json()["checks"]  # no worker runs here
                    return checks["database"] == "ok" and checks["broker"] == "ok"
                except requests.ConnectionError:
                    return False
            wait_for(up, 60, what=f"web process at {base}")
        group = f"{settings.topic_prefix}yunguan-web"
        wait_for(lambda: stable_members(settings.kafka_bootstrap, group) == 2, 90,
                 what="both web processes to join the event group")
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _event(no: str, unit: str | None) -> dict:
    return {"schema": "ticket-event/1", "ticket_no": no, "event": "dispatch", "at": "2026-11-23T09:00:00+08:00",
            "status": "dispatched", "version": 1, "category": "020102",
            "assignee": {"code": unit, "name": unit, "level": "district"} if unit else None,
            "area": {}, "location": None, "deadline": None, "escalation_level": 0, "actor": "test"}


def test_each_client_on_either_process_gets_its_events_once(two_web_processes, settings, make_user):
    a, b = two_web_processes
    make_user("duty", "operator", supervisor=True)
    make_user("east", "department", unit=UNITS[0])
    make_user("west", "department", unit=UNITS[1])
    clients = {  # one operator and one department on each process
        "duty@a": _socket(a, _token(a, "duty")), "duty@b": _socket(b, _token(b, "duty")),
        "east@a": _socket(a, _token(a, "east")), "west@b": _socket(b, _token(b, "west")),
    }
    seen: dict[str, list[str]] = {name: [] for name in clients}

    def drain() -> None:
        for name, (_, received) in clients.items():
            while not received.empty():
                seen[name].append(received.get_nowait()["ticket_no"])

    topic = f"{settings.topic_prefix}tickets.events"
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                             value_serializer=lambda v: json.dumps(v, ensure_ascii=False).encode())
    partitions = sorted(producer.partitions_for(topic))
    try:
        # Warm-up: a probe into every partition until both operators see one from each (the group has
        # settled its assignment), then forget the probes.
        probes: set[str] = set()

        def probed() -> bool:
            for p in partitions:
                no = f"PROBE-{p}-{uuid.uuid4().hex[:6]}"
                probes.add(no)
                producer.send(topic, _event(no, None), partition=p).get(timeout=10)
            drain()
            return all({n.split("-")[1] for n in seen[c] if n in probes} >= {str(p) for p in partitions}
                       for c in ("duty@a", "duty@b"))

        wait_for(probed, 60, interval=0.5, what="probes through every partition to both processes")
        for name in seen:
            seen[name] = []

        sent = {unit: [] for unit in UNITS}
        for i in range(60):
            unit = UNITS[i % 2]
            no = f"CC20261123-{i:05d}"
            sent[unit].append(no)
            producer.send(topic, _event(no, unit), key=no.encode())
        # Markers after everything, into every partition and for both units: once a client has its markers,
        # everything sent before them in those partitions has reached it (order is kept per partition).
        markers = {unit: [f"MARK-{unit}-{p}" for p in partitions] for unit in UNITS}
        for unit in UNITS:
            for p, no in zip(partitions, markers[unit], strict=True):
                producer.send(topic, _event(no, unit), partition=p)
        producer.flush()

        expected = {"duty@a": sent[UNITS[0]] + sent[UNITS[1]], "duty@b": sent[UNITS[0]] + sent[UNITS[1]],
                    "east@a": sent[UNITS[0]], "west@b": sent[UNITS[1]]}
        wanted_markers = {"duty@a": markers[UNITS[0]] + markers[UNITS[1]],
                          "duty@b": markers[UNITS[0]] + markers[UNITS[1]],
                          "east@a": markers[UNITS[0]], "west@b": markers[UNITS[1]]}

        def all_marked() -> bool:
            drain()
            return all(set(wanted_markers[c]) <= set(seen[c]) for c in clients)

        wait_for(all_marked, 60, what="every client to receive its markers")
        for name in clients:
            got = Counter(n for n in seen[name] if not n.startswith(("MARK-", "PROBE-")))
            assert set(got) == set(expected[name]), f"{name}: missing {set(expected[name]) - set(got)}, " \
                                                    f"foreign {set(got) - set(expected[name])}"
            assert max(got.values()) == 1, f"{name} got duplicates: {[n for n, c in got.items() if c > 1]}"
    finally:
        producer.close()
        for client, _ in clients.values():
            client.disconnect()

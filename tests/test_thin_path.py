"""End to end over the real services: HTTP → Kafka → worker → PostGIS → tickets.events → Socket.IO."""
from __future__ import annotations

import json
import queue
import uuid

import pytest
import requests
import socketio
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import text

from tests.helpers import wait_for

pytestmark = pytest.mark.integration

# A point in the middle of 南关区 (Nanguan district), WGS-84.
NANGUAN = {"lon": 125.4388, "lat": 43.7126}


def _token(base: str, username: str, password: str = "secret-pass-1") -> str:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _socket(base: str, token: str | None) -> tuple[socketio.Client, queue.Queue]:
    received: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on("ticket", lambda data: received.put(data), namespace="/console")
    client.connect(base, namespaces=["/console"], auth={"token": token} if token else None,
                   transports=["websocket"], wait_timeout=10)
    return client, received


def test_report_travels_to_a_ticket_and_the_console(server, worker, make_user, engine):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    client, received = _socket(base, _token(base, "duty"))
    try:
        report_id = f"r-{uuid.uuid4().hex}"
        r = requests.post(
            f"{base}/api/v1/reports",
            json={"report_id": report_id, "category": "020102", "description": "路边垃圾堆放",
                  "location": {**NANGUAN, "crs": "wgs84"}},
            timeout=10,
        )
        assert r.status_code == 202, r.text
        assert r.json() == {"report_id": report_id, "channel": "public", "status": "accepted"}

        status = wait_for(
            lambda: (s := requests.get(f"{base}/api/v1/reports/public/{report_id}", timeout=5)).status_code == 200
            and s.json(),
            what="the report to become a ticket",
        )
        ticket_no = status["ticket_no"]
        assert status["status"] == "ticketed"

        event = received.get(timeout=20)
        assert event["schema"] == "ticket-event/1"
        assert event["ticket_no"] == ticket_no
        assert event["status"] == "dispatched"
        assert event["area"]["district"] == {"code": "220102", "name": "南关区"}
        assert event["assignee"]["code"] == "220102-SANITATION"  # 暴露垃圾: the district's 环卫 branch
        assert event["assignee"]["name"] == "南关区环境卫生管理中心"
        assert event["location"] == pytest.approx(NANGUAN)

        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT district_code, ST_X(location) AS lon, status FROM tickets WHERE ticket_no = :n"),
                {"n": ticket_no},
            ).one()
        assert row.district_code == "220102" and row.status == "dispatched"
        assert row.lon == pytest.approx(NANGUAN["lon"])
    finally:
        client.disconnect()


def test_redelivered_report_makes_one_ticket(settings, deps, worker, engine):
    """The same (channel, report_id) published three times yields exactly one ticket."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    envelope = {
        "schema": "report/1", "report_id": "dup-1", "channel": "grid", "reported_at": "2026-11-22T09:00:00+08:00",
        "category": "020502", "location": {**NANGUAN, "crs": "wgs84"},
    }
    for _ in range(3):
        producer.send(deps.topics.report("grid"), key=b"dup-1", value=json.dumps(envelope).encode()).get(10)
    marker = dict(envelope, report_id="after-dups", category="020503")  # another category: not merged
    producer.send(deps.topics.report("grid"), key=b"after-dups", value=json.dumps(marker).encode()).get(10)
    producer.close()

    def tickets():
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM reports WHERE report_id = 'after-dups'")).scalar()

    wait_for(tickets, what="the marker report")
    wait_for(lambda: worker.stats.batches and _committed_all(settings, deps), what="offsets committed")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tickets")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM reports WHERE report_id = 'dup-1'")).scalar() == 1


def _committed_all(settings, deps) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets(settings.worker_group)[settings.worker_group]
    finally:
        admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == deps.topics.report("grid")) == 4


@pytest.mark.parametrize(
    "raw, reason_part",
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (json.dumps({"schema": "report/1", "report_id": "x", "channel": "public",
                     "reported_at": "2026-11-22T09:00:00+08:00"}).encode(), "location or an address"),
        (json.dumps({"schema": "report/1", "report_id": "x", "channel": "public",
                     "reported_at": "2026-11-22T09:00:00+08:00",
                     "location": {"lon": 2.35, "lat": 48.85}}).encode(), "outside China"),
        (json.dumps({"schema": "report/1", "report_id": "x", "channel": "grid",
                     "reported_at": "2026-11-22T09:00:00+08:00", "address": "人民大街1号"}).encode(),
         "does not match topic"),
    ],
    ids=["not-utf8", "not-json", "not-object", "no-location", "outside-china", "wrong-channel"],
)
def test_malformed_messages_go_to_the_dead_letter_topic(settings, deps, worker, raw, reason_part):
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    sent = producer.send(deps.topics.report("public"), key=b"bad", value=raw).get(10)
    producer.close()
    consumer = KafkaConsumer(
        deps.topics.dlq, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
        auto_offset_reset="earliest", consumer_timeout_ms=500,
    )
    try:
        letters = []
        wait_for(lambda: letters.extend(json.loads(m.value) for m in consumer) or letters, what="a dead letter")
    finally:
        consumer.close()
    letter = letters[0]
    assert letter["schema"] == "dlq/1"
    assert reason_part in letter["reason"]
    assert (letter["topic"], letter["partition"], letter["offset"]) == (sent.topic, sent.partition, sent.offset)
    assert worker.stats.dead_letters == 1


def test_socket_without_valid_token_is_refused(server):
    base, _ = server
    for token in (None, "forged.token.value"):
        client = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(base, namespaces=["/console"], auth={"token": token} if token else None,
                           transports=["websocket"], wait_timeout=5)
        client.disconnect()


def test_department_only_receives_its_own_tickets(server, worker, make_user):
    base, _ = server
    make_user("nanguan", "department", unit="220102-SANITATION")
    make_user("duty", "operator")
    dept, dept_events = _socket(base, _token(base, "nanguan"))
    ops, ops_events = _socket(base, _token(base, "duty"))
    try:
        # 朝阳区 first, then 南关区: the department must see only the second.
        for rid, point in (("chaoyang-1", {"lon": 125.3082, "lat": 43.6673}), ("nanguan-1", NANGUAN)):
            r = requests.post(f"{base}/api/v1/reports", timeout=10, json={
                "report_id": rid, "category": "020102", "location": point})
            assert r.status_code == 202, r.text
        seen_by_ops = {ops_events.get(timeout=20)["area"]["district"]["code"] for _ in range(2)}
        assert seen_by_ops == {"220104", "220102"}
        event = dept_events.get(timeout=20)
        assert event["assignee"]["code"] == "220102-SANITATION"
        with pytest.raises(queue.Empty):
            dept_events.get(timeout=1.0)
    finally:
        dept.close() if hasattr(dept, "close") else None
        dept.disconnect()
        ops.disconnect()

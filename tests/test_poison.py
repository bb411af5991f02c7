"""Poison input never stops intake: values the database cannot store are refused where they arrive (a 4xx
naming the field over HTTP, a dead letter with the reason on Kafka), and a message the database refuses anyway
is found by splitting its batch and dead-lettered after failing the same way twice, while the reports
around it become tickets."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import text

from tests.helpers import wait_for

pytestmark = pytest.mark.integration

NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}


def _good(i: int, channel: str = "sensor") -> dict:
    point = {"lon": 125.40 + (i % 50) * 0.001, "lat": 43.70 + (i // 50) * 0.001, "crs": "wgs84"}
    return {"schema": "report/1", "report_id": f"good-{i:04d}", "channel": channel,
            "reported_at": "2026-11-22T09:00:00+08:00", "category": "020102", "location": point}


def _publish(settings, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20)
    futures = [producer.send(topic, key=b"k", value=v) for v in values]
    producer.flush()
    for f in futures:
        f.get(10)
    producer.close()


def _letters(settings, topics, expected: int) -> list[dict]:
    consumer = KafkaConsumer(topics.dlq, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=300)
    letters: list[dict] = []
    try:
        wait_for(lambda: letters.extend(json.loads(m.value) for m in consumer) or len(letters) >= expected, 30,
                 what=f"{expected} dead letters")
    finally:
        consumer.close()
    return letters


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


POISON = {
    "offset-23h": (lambda e: e.update(reported_at="2026-11-30T08:00:00+23:00"), "reported_at"),
    "nul-description": (lambda e: e.update(description="井盖\u0000缺失"), "description"),
    "nul-extension": (lambda e: e.update(device={"id": "a\u0000b"}), "device.id"),
    "lone-surrogate": (lambda e: e.update(address="人民大街\ud800"), "address"),
    "big-int": (lambda e: e.update(reading={"raw": [1, 2**70]}), "reading.raw[1]"),
    "future": (lambda e: e.update(reported_at=(datetime.now(UTC) + timedelta(days=2)).isoformat()), "future"),
    "deep": (lambda e: e.update(extra=json.loads("[" * 40 + "]" * 40)), "nested deeper"),
    "oversized-extension": (lambda e: e.update(blob="x" * 20_000), "extension fields"),
}


def _poison_bytes(name: str, i: int) -> bytes:
    envelope = _good(i)
    envelope["report_id"] = f"poison-{name}"
    POISON[name][0](envelope)
    # json.dumps writes a lone surrogate as the escape \ud800, as a hostile producer would.
    return json.dumps(envelope, ensure_ascii=True).encode()


def test_poison_on_kafka_is_dead_lettered_and_the_reports_behind_it_flow(settings, deps, worker, engine):
    names = list(POISON)
    values: list[bytes] = []
    for n, name in enumerate(names):  # each poison sits between good reports of the same batch
        values.append(json.dumps(_good(2 * n)).encode())
        values.append(_poison_bytes(name, 2 * n + 1))
    values.append(json.dumps(_good(999)).encode())
    _publish(settings, deps.topics.report("sensor"), values)

    good = len(names) + 1
    wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= good, 60, what="the good reports")
    letters = _letters(settings, deps.topics, len(names))
    assert len(letters) == len(names)
    by_id = {json.loads(letter["raw"])["report_id"]: letter for letter in letters}
    for name in names:
        assert POISON[name][1] in by_id[f"poison-{name}"]["reason"], by_id[f"poison-{name}"]["reason"]
    assert _count(engine, "SELECT count(*) FROM reports WHERE report_id LIKE 'poison-%'") == 0
    assert _count(engine, "SELECT count(*) FROM reports") == good


def test_a_message_the_database_refuses_is_split_out_and_dead_lettered(settings, deps, worker, engine):
    """A value the envelope accepts but the database refuses, made real with a CHECK constraint on the test
    database: the batch is split, the one message dead-lettered with PostgreSQL's reason, the rest written."""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE reports ADD CONSTRAINT test_refuse_one CHECK (report_id <> 'good-0013')"))
    try:
        _publish(settings, deps.topics.report("sensor"), [json.dumps(_good(i)).encode() for i in range(40)])
        wait_for(lambda: _count(engine, "SELECT count(*) FROM reports") >= 39, 60, what="39 reports")
        letters = _letters(settings, deps.topics, 1)
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE reports DROP CONSTRAINT test_refuse_one"))
    assert len(letters) == 1
    assert json.loads(letters[0]["raw"])["report_id"] == "good-0013"
    assert "test_refuse_one" in letters[0]["reason"] and "23514" in letters[0]["reason"], letters[0]["reason"]
    assert "2 tries" in letters[0]["reason"]
    assert _count(engine, "SELECT count(*) FROM reports") == 39
    assert _count(engine, "SELECT count(*) FROM reports WHERE report_id = 'good-0013'") == 0
    assert worker.stats.poisoned == 1


def _http_body(name: str) -> dict:
    envelope = _good(1, channel="public")
    envelope.pop("schema")
    envelope["report_id"] = f"http-{name}"
    POISON[name][0](envelope)
    return envelope


@pytest.mark.parametrize("name", list(POISON))
def test_poison_over_http_is_a_4xx_naming_the_field(server, engine, name):
    base, _ = server
    body = json.dumps(_http_body(name), ensure_ascii=True)
    r = requests.post(f"{base}/api/v1/reports", data=body, headers={"Content-Type": "application/json"},
                      timeout=10)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    error = r.json()["error"]
    named = " ".join([error["message"], *(error.get("fields") or {})])
    assert POISON[name][1].split(".")[0] in named or POISON[name][1] in named, error
    assert _count(engine, "SELECT count(*) FROM intake_log WHERE report_id = :r", r=f"http-{name}") == 0


@pytest.mark.parametrize("channel", [[], {}, 5, None, "\u0000"])
def test_a_channel_of_the_wrong_type_is_a_4xx(server, channel):
    base, _ = server
    body = {**_http_body("future"), "reported_at": "2026-11-22T09:00:00+08:00", "channel": channel}
    r = requests.post(f"{base}/api/v1/reports", json=body, timeout=10)
    assert r.status_code in (400, 422), (r.status_code, r.text)
    assert "channel" in (r.json()["error"].get("fields") or {})


def test_an_oversized_report_body_is_413_before_it_is_parsed_and_nothing_is_stored(server, engine):
    base, _ = server
    body = {**_http_body("future"), "reported_at": "2026-11-22T09:00:00+08:00", "report_id": "huge",
            "description": "x" * 700_000}
    r = requests.post(f"{base}/api/v1/reports", json=body, timeout=10)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large", r.text
    assert _count(engine, "SELECT count(*) FROM intake_log WHERE report_id = 'huge'") == 0


def test_a_report_accepted_over_http_then_dead_lettered_is_no_gap_and_says_so(server, worker, engine, deps):
    """Accepted with 202, refused by the database twice, dead-lettered: its intake record says so, so it is
    no reconcile gap for ever (`yunguan status` would stay at exit 1), its status look-up answers `failed`
    instead of "not yet" for ever, and its Open311 token says it will never be a request."""
    from store import intake_log, open311

    base, _ = server
    body = _good(7, channel="public")
    body.pop("schema")
    body["report_id"] = "http-doomed"
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE reports ADD CONSTRAINT test_refuse_http CHECK (report_id <> 'http-doomed')"))
    try:
        r = requests.post(f"{base}/api/v1/reports", json=body, timeout=10)
        assert r.status_code == 202, r.text
        letters = _letters(deps.settings, deps.topics, 1)
        wait_for(lambda: _count(engine, "SELECT count(*) FROM intake_log WHERE report_id = 'http-doomed' "
                                        "AND dead_at IS NOT NULL") == 1, 30, what="the intake record marked dead")
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE reports DROP CONSTRAINT test_refuse_http"))
    assert json.loads(letters[0]["raw"])["report_id"] == "http-doomed"
    with engine.connect() as conn:
        reason = conn.execute(text("SELECT dead_reason FROM intake_log WHERE report_id = 'http-doomed'")).scalar()
        later = datetime.now(UTC) + timedelta(hours=1)
        gaps = intake_log.missing_tickets(conn, later, timedelta(seconds=1))
        token = open311.token(conn, ["public"], "http-doomed")
    assert "test_refuse_http" in reason and "2 tries" in reason, reason
    assert [g.report_id for g in gaps] == [], gaps  # no gap to reconcile, now or ever
    assert token is not None and token.failed and token.ticket_no is None
    status = requests.get(f"{base}/api/v1/reports/public/http-doomed", timeout=10)
    assert status.status_code == 200 and status.json() == {"status": "failed"}, status.text  # no reason: staff's

"""HTTP intake against the real broker and database: validation, idempotency, limits, broker down."""
from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import text

from application.routing import RoutingCache
from web.app import create_app

pytestmark = pytest.mark.integration

POINT = {"lon": 125.4388, "lat": 43.7126}


def _client(deps):
    app, _ = create_app(deps, RoutingCache.from_settings(deps.engine, deps.settings), relay_events=False)
    return app.test_client()


def _messages(deps, channel: str) -> list:
    topic = deps.topics.report(channel)
    consumer = KafkaConsumer(bootstrap_servers=deps.settings.kafka_bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=800)
    tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    out = [json.loads(m.value) for m in consumer]
    consumer.close()
    return out


@pytest.fixture
def client(deps):
    return _client(deps)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"location": {"lon": "125.4", "lat": 43.7}}, "location.lon"),
        ({"location": {"lon": 2.35, "lat": 48.85}}, "location"),
        ({"location": POINT, "description": "x" * 2001}, "description"),
        ({"location": POINT, "reported_at": "2026-11-22T10:00:00"}, "reported_at"),
        ({"location": {**POINT, "crs": "utm"}}, "location.crs"),
        ({}, "(envelope)"),
        ({"location": POINT, "report_id": ""}, "report_id"),
        ({"location": POINT, "channel": "fax"}, "channel"),
        ({"location": POINT, "schema": "report/2"}, "schema"),
        ({"location": POINT, "reporter": {"phone": "call me"}}, "reporter.phone"),
    ],
)
def test_bad_bodies_get_422_naming_the_field(client, deps, body, field):
    r = client.post("/api/v1/reports", json=body)
    assert r.status_code == 422, r.get_data(as_text=True)
    error = r.get_json()["error"]
    assert field in error["fields"], error
    assert error["message"]


def test_non_json_body_gets_400(client):
    r = client.post("/api/v1/reports", data="not json", content_type="text/plain")
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "bad_json"


def test_staff_channels_need_their_role(client, make_user):
    assert client.post("/api/v1/reports", json={"channel": "grid", "location": POINT}).status_code == 401
    make_user("hot", "hotline")
    token = client.post("/api/v1/auth/token", json={"username": "hot", "password": "secret-pass-1"}).get_json()["token"]
    r = client.post("/api/v1/reports", json={"channel": "grid", "location": POINT},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    r = client.post("/api/v1/reports", json={"channel": "hotline", "address": "人民大街1号"},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 202


def test_same_id_same_body_is_accepted_once_and_different_body_refused(client, deps):
    body = {"report_id": "idem-1", "category": "020102", "location": POINT, "reported_at": "2026-11-22T10:00:00+08:00"}
    first = client.post("/api/v1/reports", json=body)
    again = client.post("/api/v1/reports", json=body)
    assert first.status_code == again.status_code == 202
    assert first.get_json() == again.get_json()
    changed = client.post("/api/v1/reports", json={**body, "description": "something else"})
    assert changed.status_code == 422
    assert changed.get_json()["error"]["code"] == "report_id_conflict"
    assert [m["report_id"] for m in _messages(deps, "public")] == ["idem-1"]


def test_public_channel_is_rate_limited_per_client(deps):
    deps.settings = deps.settings.replace(public_rate_limit="3/minute")
    client = _client(deps)
    codes = [client.post("/api/v1/reports", json={"location": POINT}).status_code for _ in range(5)]
    assert codes == [202, 202, 202, 429, 429]
    assert client.post("/api/v1/reports", json={"location": POINT}).get_json()["error"]["code"] == "too_many_requests"
    # Another client address has its own budget.
    other = client.post("/api/v1/reports", json={"location": POINT}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 202


def test_broker_unreachable_gives_503_and_accepts_nothing(deps, engine):
    from tests.helpers import free_port

    deps.settings = deps.settings.replace(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    client = _client(deps)
    started = time.monotonic()
    r = client.post("/api/v1/reports", json={"report_id": "lost-1", "location": POINT})
    elapsed = time.monotonic() - started
    assert r.status_code == 503
    assert r.get_json()["error"]["code"] == "broker_unavailable"
    assert elapsed < 15, f"503 took {elapsed:.1f} s"
    with engine.connect() as conn:
        accepted = conn.execute(text("SELECT accepted_at FROM intake_log WHERE report_id = 'lost-1'")).scalar()
    assert accepted is None

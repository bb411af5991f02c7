"""Duplicate merge across channels on the real worker: one burst pipe, three channels, one ticket."""
from __future__ import annotations

import json

import prcoords
import pytest
from kafka import KafkaProducer
from sqlalchemy import text

from tests.helpers import wait_for

pytestmark = pytest.mark.integration

PIPE = (125.4388, 43.7126)  # a burst water main in Nanguan: category 020402, merge distance 100 m


def _send(settings, deps, envelopes) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for e in envelopes:
        e = {"schema": "report/1", "reported_at": "2026-11-23T08:00:00+08:00", **e}
        producer.send(deps.topics.report(e["channel"]), key=e["report_id"].encode(), value=json.dumps(e).encode()).get(10)
    producer.close()


def _rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def test_reports_of_one_case_from_three_channels_become_one_ticket(settings, deps, worker, engine):
    gcj = prcoords.wgs_gcj((PIPE[1], PIPE[0]))
    _send(settings, deps, [
        {"report_id": "g-1", "channel": "grid", "category": "020402", "description": "自来水管破裂",
         "location": {"lon": gcj.lon, "lat": gcj.lat, "crs": "gcj02"}},
    ])
    wait_for(lambda: _rows(engine, "SELECT 1 FROM reports WHERE ticket_id IS NOT NULL"), what="the first ticket")
    _send(settings, deps, [
        {"report_id": "s-1", "channel": "sensor", "category": "020402", "description": "water-pressure alarm",
         "location": {"lon": PIPE[0] + 0.0004, "lat": PIPE[1], "crs": "wgs84"},  # ~32 m east
         "sensor": {"device_id": "wp-0042", "reading": 0.05}},
        {"report_id": "p-1", "channel": "public", "category": "020402", "description": "路面大量冒水",
         "location": {"lon": PIPE[0], "lat": PIPE[1] + 0.0005, "crs": "wgs84"},  # ~55 m north
         "reporter": {"phone": "13800001111"}},
        {"report_id": "p-2", "channel": "public", "category": "020402", "description": "另一处爆管",
         "location": {"lon": PIPE[0] + 0.01, "lat": PIPE[1], "crs": "wgs84"}},  # ~800 m away: its own case
        {"report_id": "p-3", "channel": "public", "category": "020102", "description": "垃圾",
         "location": {"lon": PIPE[0], "lat": PIPE[1], "crs": "wgs84"}},  # same spot, another category
    ])
    wait_for(lambda: len(_rows(engine, "SELECT 1 FROM reports WHERE ticket_id IS NOT NULL")) == 5, what="5 reports")
    tickets = _rows(engine, "SELECT t.ticket_no, t.report_count, t.version, array_agg(r.report_id ORDER BY r.id) AS ids "
                            "FROM tickets t JOIN reports r ON r.ticket_id = t.id GROUP BY t.id ORDER BY t.id")
    assert len(tickets) == 3
    pipe = tickets[0]
    assert pipe.ids[0] == "g-1" and sorted(pipe.ids) == ["g-1", "p-1", "s-1"] and pipe.report_count == 3
    assert pipe.version >= 2, "a merge is a change: consoles see a new version"
    merges = _rows(engine, "SELECT h.note, h.data FROM ticket_history h JOIN tickets t ON t.id = h.ticket_id "
                           "WHERE t.ticket_no = :n AND h.action = 'merge' ORDER BY h.id", n=pipe.ticket_no)
    assert sorted(m.data["report_id"] for m in merges) == ["p-1", "s-1"]
    assert all(m.data["distance_m"] < 100 for m in merges)


def test_an_operator_splits_a_wrongly_merged_report_out(server, settings, deps, worker, engine, make_user):
    import requests

    base, _ = server
    make_user("duty", "operator", supervisor=True)
    make_user("nanguan", "department", unit="220102-CMD")
    _send(settings, deps, [{"report_id": "a-1", "channel": "grid", "category": "020402",
                            "location": {"lon": PIPE[0], "lat": PIPE[1], "crs": "wgs84"}}])
    wait_for(lambda: _rows(engine, "SELECT 1 FROM reports WHERE ticket_id IS NOT NULL"), what="the first ticket")
    _send(settings, deps, [{"report_id": "b-1", "channel": "public", "category": "020402",
                            "location": {"lon": PIPE[0] + 0.0003, "lat": PIPE[1], "crs": "wgs84"}}])
    wait_for(lambda: len(_rows(engine, "SELECT 1 FROM reports WHERE ticket_id IS NOT NULL")) == 2, what="the merge")
    (no,) = _rows(engine, "SELECT ticket_no FROM tickets")[0]

    def login(name):
        token = requests.post(f"{base}/api/v1/auth/token", json={"username": name, "password": "secret-pass-1"},
                              timeout=10).json()["token"]
        return {"Authorization": f"Bearer {token}"}

    duty, dept = login("duty"), login("nanguan")
    version = requests.get(f"{base}/api/v1/tickets/{no}", headers=duty, timeout=10).json()["version"]
    url = f"{base}/api/v1/tickets/{no}/actions"
    r = requests.post(url, headers=dept, timeout=10,
                      json={"action": "split", "version": version, "note": "x", "report": "public/b-1"})
    assert r.status_code == 403, r.text
    r = requests.post(url, headers=duty, timeout=10, json={"action": "split", "version": version, "note": "不同的管道"})
    assert r.status_code == 422 and "report" in r.json()["error"]["fields"]
    r = requests.post(url, headers=duty, timeout=10,
                      json={"action": "split", "version": version, "note": "x", "report": "public/nope"})
    assert r.status_code == 422 and "report" in r.json()["error"]["fields"]
    r = requests.post(url, headers=duty, timeout=10,
                      json={"action": "split", "version": version, "note": "是另一处漏水", "report": "public/b-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["report_count"] == 1 and [x["report_id"] for x in body["reports"]] == ["a-1"]
    assert body["history"][-1]["action"] == "split" and body["history"][-1]["data"]["report_id"] == "b-1"
    new = requests.get(f"{base}/api/v1/tickets/{body['split_into']}", headers=duty, timeout=10).json()
    assert [x["report_id"] for x in new["reports"]] == ["b-1"] and new["status"] == "dispatched"

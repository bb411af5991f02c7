"""The worker's batch stays set-based now that opening and merging are changes of the domain: the statements a
batch sends do not grow with the number of reports (one per table and kind of change, never one per ticket),
and the history rows of openings and merges chain and verify. Real PostgreSQL."""
from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, text

from application.envelope import validate_envelope
from application.ingest import Received, ingest
from store.loop import verify_history
from tests.test_domain_rules import _contexts

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
KW = {"now": NOW, "timezone": "Asia/Shanghai", "ticket_prefix": "CC", "events_topic": "tickets.events"}
WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)", re.I)


def _batch(tag: str, n: int, lat: float) -> list[Received]:
    """`n` reports: most far apart (a ticket each), every fourth on the spot of the one before (a merge), and
    every fifth without a category (a pending ticket)."""
    out = []
    for i in range(n):
        spot = i - 1 if i % 4 == 3 else i
        out.append(Received(validate_envelope({
            "schema": "report/1", "report_id": f"{tag}-{i}", "channel": "grid",
            "category": None if i % 5 == 4 else "020102", "reported_at": "2026-11-25T09:00:00+08:00",
            "description": "垃圾满溢", "location": {"lon": 125.30 + spot * 0.004, "lat": lat, "crs": "wgs84"}}),
            "reports.grid", 0, i))
    return out


def _statements(engine, routing, loop, received) -> tuple[int, Counter]:
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.begin() as conn:
            ingest(conn, received, routing, loop=loop, **KW)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    writes = Counter(f"{m.group(1).split()[0].upper()} {m.group(2)}" for s in sent if (m := WRITE.match(s)))
    return len(sent), writes


def test_a_batch_sends_the_same_statements_for_8_reports_as_for_80(clean_db, base_settings):
    routing, loop = _contexts(clean_db, base_settings)
    small_count, small = _statements(clean_db, routing, loop, _batch("small", 8, 43.87))
    big_count, big = _statements(clean_db, routing, loop, _batch("big", 80, 43.89))
    assert big_count == small_count, (small_count, big_count)
    assert big == small
    # one statement per table and kind of change: new tickets (with their history, facts and `created`
    # events), the reports, and the merges (their history, one UPDATE of counts, versions and heads, and
    # `merged` events)
    assert (big["INSERT tickets"], big["INSERT ticket_history"], big["INSERT reports"], big["UPDATE tickets"],
            big["INSERT outbox"]) == (1, 2, 1, 1, 2), big
    assert max(big.values()) <= 2, big
    with clean_db.connect() as conn:
        merges = conn.execute(text("SELECT count(*) FROM ticket_history WHERE action = 'merge'")).scalar_one()
        created = conn.execute(text("SELECT count(*) FROM ticket_history WHERE action = 'create'")).scalar_one()
        assert (merges, created) == (2 + 12, 1 + 16)  # see _batch: which reports merge, which wait
        assert verify_history(conn) == []  # opening and merge rows chain like every other

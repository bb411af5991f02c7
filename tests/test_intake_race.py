"""Two workers writing the same report at once (a rebalance hands a partition over mid-batch): exactly one
ticket, and the loser's transaction is abandoned whole, to be replayed. Real PostgreSQL, two transactions."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from application.envelope import validate_envelope
from application.ingest import ConcurrentIntake, Received, ingest
from application.routing import RoutingCache
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def _batch() -> list[Received]:
    envelopes = [{"schema": "report/1", "report_id": f"race-{n}", "channel": "grid", "category": "020102",
                  "reported_at": "2026-11-25T09:00:00+08:00", "description": "垃圾满溢",
                  "location": {"lon": 125.32 + n * 0.01, "lat": 43.88, "crs": "wgs84"}} for n in range(3)]
    return [Received(validate_envelope(e), "reports.grid", 0, n) for n, e in enumerate(envelopes)]


KW = {"now": NOW, "timezone": "Asia/Shanghai", "ticket_prefix": "CC", "events_topic": "tickets.events"}


def _ingest(conn, ctx) -> list[str]:
    return ingest(conn, _batch(), ctx, **KW)


def _lock_waiters(engine) -> int:
    """Sessions of this database waiting for a lock, read in a transaction of its own: PostgreSQL snapshots
    pg_stat_activity once per transaction, so polling inside one transaction would never see a change."""
    with engine.connect() as watch:
        return watch.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )).scalar_one()


def _blocked_writer(engine, write, other_tx, what: str) -> dict:
    """Run `write(conn)` in a transaction of its own on a thread, wait until it waits for a lock that
    `other_tx` holds, commit `other_tx`, and return what the writer returned ("opened") or raised ("error").
    Whatever happens, `other_tx` ends and the thread is joined: a lock left held would stall every later test."""
    outcome: dict = {}

    def run() -> None:
        try:
            with engine.begin() as conn:
                outcome["opened"] = write(conn)
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_for(lambda: _lock_waiters(engine) > 0, timeout=20, what=what)
        other_tx.commit()
    finally:
        if other_tx.is_active:
            other_tx.rollback()
        thread.join(20)
    assert not thread.is_alive()
    return outcome


def test_the_second_writer_of_a_report_makes_no_ticket_and_writes_nothing(clean_db, base_settings):
    engine = clean_db
    ctx = RoutingCache.from_settings(engine, base_settings)()
    first = engine.connect()
    first_tx = first.begin()
    opened = _ingest(first, ctx)  # uncommitted: the second writer cannot see these reports yet
    assert len(opened) == 3
    outcome = _blocked_writer(engine, lambda conn: _ingest(conn, ctx), first_tx,
                              "the second writer to wait for the first one's report rows")
    first.close()
    assert isinstance(outcome.get("error"), ConcurrentIntake), outcome
    with engine.connect() as conn:
        tickets = conn.execute(text("SELECT ticket_no FROM tickets ORDER BY ticket_no")).scalars().all()
        reports = conn.execute(text("SELECT report_id, ticket_id FROM reports ORDER BY id")).all()
        events = conn.execute(text("SELECT count(*) FROM outbox")).scalar_one()
    assert tickets == sorted(opened)
    assert [r.report_id for r in reports] == ["race-0", "race-1", "race-2"]
    assert all(r.ticket_id is not None for r in reports)
    assert events == 3  # the abandoned transaction left no event behind
    with engine.begin() as conn:  # the replay finds the reports written and makes nothing
        assert _ingest(conn, ctx) == []


def _one(report_id: str, lon: float) -> list[Received]:
    e = {"schema": "report/1", "report_id": report_id, "channel": "public", "category": "020102",
         "reported_at": "2026-11-25T09:05:00+08:00", "description": "垃圾满溢",
         "location": {"lon": lon, "lat": 43.88, "crs": "wgs84"}}
    return [Received(validate_envelope(e), "reports.public", 0, 0)]


@pytest.fixture
def one_open_ticket(clean_db, base_settings):
    """A routing context and the number of an open ticket opened by report public/p-1."""
    ctx = RoutingCache.from_settings(clean_db, base_settings)()
    with clean_db.begin() as conn:
        [first_no] = ingest(conn, _one("p-1", 125.32), ctx, **KW)
    return ctx, first_no


def test_a_ticket_closed_while_a_report_merges_into_it_replays_the_batch_into_a_new_ticket(clean_db, one_open_ticket):
    engine = clean_db
    ctx, first_no = one_open_ticket
    closer = engine.connect()
    closer_tx = closer.begin()
    closer.execute(text("UPDATE tickets SET status = 'closed' WHERE ticket_no = :n"), {"n": first_no})
    # 8 m away, same category: merges into the ticket being closed
    outcome = _blocked_writer(engine, lambda conn: ingest(conn, _one("p-2", 125.3201), ctx, **KW), closer_tx,
                              "the merging writer to wait for the ticket's lock")
    closer.close()
    assert isinstance(outcome.get("error"), ConcurrentIntake), outcome
    with engine.begin() as conn:  # the replay sees the ticket closed and opens a new one
        [second_no] = ingest(conn, _one("p-2", 125.3201), ctx, **KW)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT t.ticket_no, t.report_count, array_agg(r.report_id) AS ids FROM tickets t "
                                 "JOIN reports r ON r.ticket_id = t.id GROUP BY t.id ORDER BY t.id")).all()
    assert [(r.ticket_no, r.report_count, r.ids) for r in rows] == [(first_no, 1, ["p-1"]), (second_no, 1, ["p-2"])]


def test_without_the_close_the_same_report_merges(clean_db, one_open_ticket):
    """The control for the test above: the two reports do merge when nothing intervenes."""
    engine = clean_db
    ctx, first_no = one_open_ticket
    with engine.begin() as conn:
        assert ingest(conn, _one("p-2", 125.3201), ctx, **KW) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT report_count FROM tickets WHERE ticket_no = :n"),
                            {"n": first_no}).scalar_one() == 2

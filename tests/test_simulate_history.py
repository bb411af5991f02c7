"""`yunguan simulate --history` (issue 16) on the real database: three working days of past traffic run through
the application's own functions leave tickets in every stage (closed, returned and arbitrated, extended,
reworked, escalated), every history chain intact, nothing dated after the simulated end or out of order, the
department's work inside office hours, and figures in GET /api/v1/evaluation; the same seed writes the same
history, another seed another one."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.conftest import DATA_TABLES
from yunguan.history_sim import Behaviour, HistoryRefused, HistoryRun, simulate_history

CST = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 26, 12, 0, tzinfo=CST)  # a Thursday: the three days before it are working days
START = END - timedelta(days=3)
# A small city with more trouble than most, so that three days show every kind of case.
LIVELY = Behaviour(late_handle=0.3, returns=0.15, return_again=0.6, extension=0.2, fail_verify=0.25)


def _simulate(deps, days: int = 3, seed: int = 7, per_day: int = 100):
    return simulate_history(deps.engine, deps.settings, deps.topics,
                            HistoryRun(days, seed, per_day, end=END, behaviour=LIVELY))


def _scalar(deps, sql: str, **params):
    with deps.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _actions(deps) -> dict[str, int]:
    with deps.engine.connect() as conn:
        return dict(conn.execute(text("SELECT action, count(*) FROM ticket_history GROUP BY action")).all())


def _digest(deps) -> tuple[dict[str, int], str]:
    """Ticket counts per status, and one hash over every ticket's number and history head (each head hashes
    its whole chain: times, actors, notes and particulars included)."""
    with deps.engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM tickets GROUP BY status")).all())
        heads = conn.execute(text("SELECT ticket_no || ':' || history_head FROM tickets ORDER BY ticket_no")).scalars()
        return statuses, hashlib.sha256("\n".join(heads).encode()).hexdigest()


@pytest.fixture
def http(deps, make_user):
    from application.routing import RoutingCache
    from web.app import create_app
    from web.auth import Tokens

    app, _ = create_app(deps, RoutingCache.from_settings(deps.engine, deps.settings), relay_events=False)
    token = Tokens(deps.settings.secret_key).issue(make_user("sim-duty", "operator", supervisor=True))
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_three_days_of_history_run_the_whole_loop(deps, http):
    result = _simulate(deps)
    assert not result.refused, f"the domain refused planned steps: {dict(result.refused)}"
    assert 240 <= result.reports <= 360 and len(result.tickets) > 220

    statuses, _ = _digest(deps)
    assert {"dispatched", "acknowledged", "handled", "closed"} <= set(statuses), statuses
    actions = _actions(deps)
    for action in ("create", "register", "locate", "dispatch", "acknowledge", "return", "handle", "verify",
                   "fail_verify", "close", "request_extension", "approve_extension", "deny_extension", "warn",
                   "escalate", "reject", "comment"):
        assert actions.get(action), f"no {action} in three days: {actions}"
    arbitrations = _scalar(deps, "SELECT count(*) FROM ticket_history WHERE action = 'dispatch' "
                                 "AND (data->>'arbitration')::boolean")
    assert arbitrations > 0
    # A return the 值班长 upheld moved the ticket to another unit; one that was not upheld kept it where it was.
    assert _scalar(deps, "SELECT count(*) FROM ticket_history WHERE action = 'dispatch' AND "
                         "(data->>'arbitration')::boolean AND note LIKE '%不成立%'") > 0 or arbitrations == 1

    # The deadline pass ran each minute for the tickets whose clocks reached a step; a pass over every ticket
    # as of the end finds nothing left to warn, escalate or resume.
    from application.escalate import escalation_run

    late = escalation_run(deps.engine, deps.loop(), END - timedelta(minutes=2), dry_run=True)
    assert late.applied == []

    from store.audit import verify

    report = verify(deps.engine, deps.settings)
    assert report.ok and report.entries > 1000, report.broken[:3]

    # Nothing after the simulated end (so nothing in the future), nothing before its start, in order per ticket;
    # a person's step is strictly later than the ticket's previous entry.
    for sql in ("SELECT max(at) FROM ticket_history", "SELECT max(updated_at) FROM tickets",
                "SELECT max(closed_at) FROM tickets", "SELECT max(received_at) FROM reports"):
        assert _scalar(deps, sql) <= END, sql
    assert _scalar(deps, "SELECT min(created_at) FROM tickets") >= START
    assert _scalar(deps, "SELECT count(*) FROM reports WHERE received_at < reported_at") == 0
    assert _scalar(deps, "SELECT count(*) FROM (SELECT at, party, lag(at) OVER (PARTITION BY ticket_id ORDER BY id) "
                         "AS before FROM ticket_history) h WHERE at < before OR (party <> 'system' AND at <= before)") == 0
    # The calendar applies: a department's steps on normal tickets fall in office hours on working days.
    with deps.engine.connect() as conn:
        worked = conn.execute(text(
            "SELECT h.at FROM ticket_history h JOIN tickets t ON t.id = h.ticket_id WHERE h.party = 'lead' "
            "AND t.priority = 'normal' AND h.action IN ('acknowledge', 'handle', 'return')")).scalars().all()
    assert len(worked) > 150
    for at in worked:
        local = at.astimezone(CST)
        assert local.weekday() < 5 and "08:30" <= f"{local:%H:%M}" <= "17:31", local

    client, head = http
    body = client.get("/api/v1/evaluation?by=unit&from=2026-11-23&to=2026-11-27", headers=head).get_json()
    totals = {k: sum(r["counts"][k] for r in body["rows"]) for k in body["rows"][0]["counts"]}
    assert totals["dispatched"] > 150
    for count in ("closed", "returned", "extended", "reworked", "overdue", "handled_on_time"):
        assert totals[count] > 0, (count, totals)
    districts = client.get("/api/v1/evaluation?by=district&from=2026-11-23&to=2026-11-27", headers=head).get_json()
    assert sum(r["counts"]["dispatched"] for r in districts["rows"]) == totals["dispatched"]

    with pytest.raises(HistoryRefused, match="before every ticket"):  # history comes first, or not at all
        _simulate(deps, days=1)


def test_the_same_seed_writes_the_same_history(deps, clean_db):
    first = _simulate(deps, days=1, per_day=40)
    once = _digest(deps)
    with clean_db.begin() as conn:  # the owner's connection: the application's role may not truncate
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    again = _simulate(deps, days=1, per_day=40)
    assert _digest(deps) == once and again.tickets == first.tickets and again.actions == first.actions
    with clean_db.begin() as conn:  # the owner's connection: the application's role may not truncate
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    _simulate(deps, days=1, seed=8, per_day=40)
    assert _digest(deps)[1] != once[1]

"""Department evaluation: 按期处置率, 结案率, 返工率, 及时签收率, the composite score and the ranking."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.deadlines import limits_for
from dispatch.evaluation import TicketFacts, composite, evaluate, ticket_facts
from dispatch.lifecycle import TicketState
from dispatch.model import Status
from dispatch.taxonomy import read_file
from dispatch.worktime import WorkingTime
from tests.test_dispatch_lifecycle import DUTY, GRID, OPERATOR, U1, U2, Loop

TZ = ZoneInfo("Asia/Shanghai")
W = WorkingTime()
NOW = datetime(2026, 11, 23, 17, 0, tzinfo=TZ)
LIMITS = limits_for(read_file("yunguan/demo_data/categories.csv").get("020102"))  # 1 h / 4 h, working


def at(h, mi=0) -> datetime:
    return datetime(2026, 11, 23, h, mi, tzinfo=TZ)


def ticket(no: str, unit: str) -> Loop:
    loop = Loop(TicketState(no, Status.PENDING, 1, category="020102", grid="G1"), at(8, 58))
    loop.do(DUTY, "register")
    loop.do(DUTY, "dispatch", to_unit=unit)  # 09:00
    return loop


def step(loop: Loop, actor, action, when: datetime, **fields) -> None:
    loop.do(actor, action, after=when - loop.at, **fields)


def scenario() -> list[TicketFacts]:
    a1 = ticket("A1", "U1")
    step(a1, U1, "acknowledge", at(9, 30))
    step(a1, U1, "handle", at(11))
    step(a1, GRID, "verify", at(11, 30))
    step(a1, DUTY, "close", at(11, 40))
    a2 = ticket("A2", "U1")
    step(a2, U1, "acknowledge", at(10, 30))  # 1.5 h: late
    step(a2, U1, "handle", at(15))  # 5 working hours: late
    step(a2, GRID, "fail_verify", at(15, 30), note="未清理干净")
    step(a2, U1, "handle", at(16))
    step(a2, GRID, "verify", at(16, 20))
    step(a2, DUTY, "close", at(16, 30))
    a3 = ticket("A3", "U1")
    step(a3, U1, "acknowledge", at(9, 10))
    b1 = ticket("B1", "U2")
    step(b1, U2, "return", at(9, 20), note="应由U1负责")  # within its acknowledge limit, never acknowledged
    step(b1, OPERATOR, "dispatch", at(10), to_unit="U1")
    step(b1, U1, "acknowledge", at(10, 10))
    step(b1, U1, "handle", at(11))
    b2 = ticket("B2", "U2")  # never acknowledged: late by NOW
    return [ticket_facts(t.ticket, LIMITS, W, NOW) for t in (a1, a2, a3, b1, b2)]


def test_ticket_facts():
    a1, a2, a3, b1, b2 = scenario()
    assert (a1.lead, a1.handled, a1.handled_on_time, a1.closed, a1.reworked) == ("U1", True, True, True, False)
    assert (a2.handled_on_time, a2.reworked, a2.closed) == (False, True, True)
    assert a2.acknowledgements == (("U1", False),)
    assert (a3.handled, a3.handled_on_time, a3.acknowledgements) == (False, None, (("U1", True),))
    assert b1.lead == "U1" and b1.returned_by == ("U2",) and b1.handled_on_time is True
    assert b1.acknowledgements == (("U1", True),)  # U2 returned within its limit: not counted
    assert b1.disputes == (("U2", timedelta(minutes=40)),)
    assert b2.acknowledgements == (("U2", False),)


def test_rates_score_and_rank():
    scores = {s.unit: s for s in evaluate(scenario(), min_dispatched=1)}
    u1, u2 = scores["U1"], scores["U2"]
    assert (u1.dispatched, u1.handled, u1.handled_on_time, u1.closed, u1.reworked) == (4, 3, 2, 2, 1)
    assert u1.on_time_rate == pytest.approx(2 / 3) and u1.close_rate == 0.5
    assert u1.rework_rate == pytest.approx(1 / 3) and u1.timely_ack_rate == 0.75
    assert u1.score == pytest.approx(100 * (0.35 * 2 / 3 + 0.25 * 0.5 + 0.20 * 0.75 + 0.20 * 2 / 3))
    assert (u2.dispatched, u2.returns, u2.dispute) == (1, 1, timedelta(minutes=40))
    assert u2.on_time_rate is None and u2.rework_rate is None and u2.close_rate == 0 and u2.timely_ack_rate == 0
    assert u2.score == 0
    assert (u1.rank, u2.rank) == (1, 2)


def test_units_with_too_few_tickets_are_listed_without_a_rank():
    scores = evaluate(scenario())  # default: at least 5 dispatched tickets
    assert [(s.unit, s.rank) for s in scores] == [("U1", None), ("U2", None)]


def _facts(unit: str, n: int, on_time: bool, closed: bool) -> list[TicketFacts]:
    return [TicketFacts(f"{unit}-{i}", unit, True, on_time, closed, False, ((unit, True),), (), ())
            for i in range(n)]


def test_ties_share_a_rank_and_volume_breaks_the_order():
    facts = _facts("X", 5, True, True) + _facts("Y", 8, True, True) + _facts("Z", 5, False, True)
    scores = evaluate(facts)
    assert [(s.unit, s.rank) for s in scores] == [("Y", 1), ("X", 1), ("Z", 3)]
    assert scores[0].score == 100.0


def test_composite_drops_missing_rates():
    assert composite(None, 1.0, None, None) == 100.0
    assert composite(None, None, None, None) is None
    assert composite(1.0, 0.0, 1.0, 0.5) == pytest.approx(100 * (0.35 + 0.2 + 0.1))

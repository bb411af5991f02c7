"""Deadlines in working time, lights, extension pauses, the anti-推诿 clock, and the escalation pass."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from dispatch.actors import SYSTEM
from dispatch.deadlines import (
    Light,
    dispute_time,
    limits_for,
    next_deadline,
    read_clocks,
    rule_for,
)
from dispatch.escalation import DueKind, EscalationPolicy, escalation_pass, first_rung, target_level
from dispatch.lifecycle import ClockKind, Priority, TicketState, apply
from dispatch.model import Status
from dispatch.taxonomy import Taxonomy, read_file
from dispatch.worktime import NaturalTime, WorkingTime
from tests.test_dispatch_lifecycle import DUTY, GRID, OPERATOR, U1, Loop

TZ = ZoneInfo("Asia/Shanghai")
W = WorkingTime()
H = timedelta(hours=1)


def at(y, mo, d, h=0, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


@cache
def taxonomy() -> Taxonomy:
    return read_file("yunguan/demo_data/categories.csv")


def limits(code: str, priority: Priority = Priority.NORMAL):
    return limits_for(taxonomy().get(code), priority)


def dispatched(at_: datetime, category: str = "020102") -> Loop:
    """A ticket dispatched to U1 exactly at `at_`."""
    loop = Loop(TicketState("CC1", Status.PENDING, 1, category=category, grid="G1"), at_ - timedelta(minutes=2))
    loop.do(DUTY, "register")
    loop.do(DUTY, "dispatch", to_unit="U1")
    assert loop.at == at_
    return loop


def clocks(ticket, now, code="020102", priority=Priority.NORMAL):
    lim = limits(code, priority)
    return {r.kind: r for r in read_clocks(ticket, lim, rule_for(lim, W), now)}


def test_limits_per_category_and_priority():
    ordinary = limits("020102")
    assert (ordinary.acknowledge, ordinary.handle, ordinary.natural) == (1 * H, 4 * H, False)
    gas = limits("020403")
    assert (gas.acknowledge, gas.handle, gas.natural) == (timedelta(minutes=15), 2 * H, True)
    rushed = limits("020102", Priority.URGENT)
    assert (rushed.acknowledge, rushed.handle, rushed.natural) == (timedelta(minutes=30), 2 * H, True)
    assert isinstance(rule_for(gas, W), NaturalTime) and rule_for(ordinary, W) is W
    with pytest.raises(ValueError):
        limits_for(taxonomy().get("0201"))


def test_clocks_across_national_day():
    loop = dispatched(at(2026, 9, 30, 16))
    c = clocks(loop.ticket, at(2026, 10, 8, 9))
    ack, handle = c[ClockKind.ACKNOWLEDGE], c[ClockKind.HANDLE]
    assert ack.used == 2 * H and ack.light is Light.RED and ack.deadline == at(2026, 9, 30, 17)
    assert handle.used == 2 * H and handle.light is Light.GREEN and handle.deadline == at(2026, 10, 8, 11)
    assert next_deadline(tuple(c.values())) == at(2026, 9, 30, 17)
    handle_later = clocks(loop.ticket, at(2026, 10, 8, 10, 30))[ClockKind.HANDLE]
    assert handle_later.fraction == pytest.approx(0.875) and handle_later.light is Light.YELLOW
    # The holiday itself does not move the handle clock at all.
    assert clocks(loop.ticket, at(2026, 10, 5, 15))[ClockKind.HANDLE].used == 1.5 * H


def test_a_done_step_freezes_its_clock():
    loop = dispatched(at(2026, 9, 30, 16))
    loop.do(U1, "acknowledge", after=timedelta(minutes=30))
    c = clocks(loop.ticket, at(2026, 10, 9, 9))
    ack = c[ClockKind.ACKNOWLEDGE]
    assert not ack.running and ack.used == timedelta(minutes=30) and ack.on_time
    assert next_deadline(tuple(c.values())) == at(2026, 10, 8, 11)


def test_an_extension_stops_the_handle_clock_for_its_duration():
    loop = dispatched(at(2026, 9, 30, 16))
    loop.do(U1, "acknowledge", after=timedelta(minutes=28))
    loop.do(U1, "request_extension", minutes=120, note="待产权单位确认", after=at(2026, 10, 8, 8, 59) - loop.at)
    loop.do(DUTY, "approve_extension")  # 09:00
    suspended = clocks(loop.ticket, at(2026, 10, 8, 12))[ClockKind.HANDLE]
    assert suspended.paused and suspended.used == 2 * H
    # 2 h used; the pause runs 09:00-11:00; 2 h left: 11:00-12:00 and 13:00-14:00.
    assert suspended.deadline == at(2026, 10, 8, 14)
    loop.do(SYSTEM, "resume", note=None, after=at(2026, 10, 8, 10) - loop.at)  # taken up early
    resumed = clocks(loop.ticket, at(2026, 10, 8, 10, 30))[ClockKind.HANDLE]
    assert not resumed.paused and resumed.used == 2.5 * H and resumed.deadline == at(2026, 10, 8, 12)


def test_a_parked_ticket_has_no_deadline():
    loop = dispatched(at(2026, 11, 23, 9))
    loop.do(U1, "acknowledge")
    loop.do(DUTY, "approve_extension", park=True, note="涉及征收，挂账")
    handle = clocks(loop.ticket, at(2026, 12, 20, 9))[ClockKind.HANDLE]
    assert handle.deadline is None and handle.paused and handle.used == timedelta(minutes=2)  # 09:00-09:02


def test_urgent_categories_count_through_the_holiday_night():
    loop = dispatched(at(2026, 10, 1, 2), category="020403")
    c = clocks(loop.ticket, at(2026, 10, 1, 3), code="020403")
    assert c[ClockKind.ACKNOWLEDGE].light is Light.RED and c[ClockKind.HANDLE].deadline == at(2026, 10, 1, 4)
    assert c[ClockKind.HANDLE].light is Light.GREEN and c[ClockKind.HANDLE].fraction == 0.5


def test_a_unit_that_returned_is_charged_the_dispute_time():
    loop = dispatched(at(2026, 9, 30, 16))
    loop.do(U1, "return", note="非本单位", after=H)  # 17:00
    loop.do(OPERATOR, "dispatch", to_unit="U1", after=at(2026, 10, 8, 9) - loop.at)
    c = clocks(loop.ticket, at(2026, 10, 8, 10))
    assert c[ClockKind.HANDLE].started == at(2026, 9, 30, 16) and c[ClockKind.HANDLE].used == 3 * H
    assert c[ClockKind.ACKNOWLEDGE].started == at(2026, 10, 8, 9) and c[ClockKind.ACKNOWLEDGE].used == H
    assert dispute_time(loop.ticket, W, at(2026, 10, 9)) == H  # 17:00-17:30 and 08:30-09:00
    assert dispute_time(loop.ticket, NaturalTime(), at(2026, 10, 9)) == at(2026, 10, 8, 9) - at(2026, 9, 30, 17)


def test_rework_has_only_a_handle_clock_from_the_failed_verification():
    loop = dispatched(at(2026, 11, 23, 9))
    loop.do(U1, "acknowledge")
    loop.do(U1, "handle")
    loop.do(GRID, "fail_verify", note="未清理干净", after=timedelta(hours=1))
    c = clocks(loop.ticket, loop.at + H)
    assert set(c) == {ClockKind.HANDLE} and c[ClockKind.HANDLE].started == loop.at


# --- escalation -------------------------------------------------------------------------------------------

LEVELS = {"U1": "district", "S1": "street"}


def run(tickets, now, **kw):
    return escalation_pass(tickets, lambda t: limits(t.category, t.priority), W, now,
                           unit_level_of=LEVELS.get, **kw)


def test_ladder_arithmetic():
    policy = EscalationPolicy()
    assert first_rung("street") == 1 and first_rung("district") == 2 and first_rung(None) == 1
    assert target_level(1.0, 1, policy) == 0  # due, not overdue
    assert target_level(1.01, 1, policy) == 1 and target_level(1.6, 1, policy) == 2
    assert target_level(2.5, 1, policy) == 3 and target_level(2.5, 2, policy) == 3


def test_overdue_escalates_once_per_rung_and_is_idempotent():
    loop = dispatched(at(2026, 11, 23, 9))
    loop.do(U1, "acknowledge", after=timedelta(minutes=10))
    # Handle limit 4 h from 09:00 → due 14:00; at 14:30 it is 112.5% used.
    dues = run([loop.ticket], at(2026, 11, 23, 14, 30))
    assert [(d.kind, d.level, d.rung, d.clock) for d in dues] == [
        (DueKind.ESCALATE, 2, "district", ClockKind.HANDLE)  # a district unit starts at the district centre
    ]
    loop.ticket = apply(loop.ticket, dues[0].command(loop.ticket.version), SYSTEM, at(2026, 11, 23, 14, 30)).ticket
    assert loop.ticket.escalation_level == 2
    assert run([loop.ticket], at(2026, 11, 23, 14, 30)) == []  # second pass: nothing new
    assert run([loop.ticket], at(2026, 11, 23, 15, 0)) == []
    # 160% used (6.4 h: 09:00 + 6.4 working hours = next day 08:30 + 0.9 h): the city.
    later = run([loop.ticket], at(2026, 11, 24, 9, 30))
    assert [(d.kind, d.level, d.rung) for d in later] == [(DueKind.ESCALATE, 3, "city")]


def test_a_pass_that_was_down_emits_every_rung_in_order():
    loop = Loop(TicketState("CC2", Status.PENDING, 1, category="020102", grid="G1"), at(2026, 11, 23, 8, 58))
    loop.do(DUTY, "register")
    loop.do(DUTY, "dispatch", to_unit="S1")
    dues = run([loop.ticket], at(2026, 11, 25, 9))  # 2 days later: far past 200%
    escalations = [d for d in dues if d.kind is DueKind.ESCALATE]
    assert [(d.level, d.rung) for d in escalations] == [(1, "street"), (2, "district"), (3, "city")]
    ticket = loop.ticket
    for due in escalations:
        ticket = apply(ticket, due.command(ticket.version), SYSTEM, at(2026, 11, 25, 9)).ticket
    assert ticket.escalation_level == 3 and run([ticket], at(2026, 11, 25, 9)) == []


def test_yellow_is_warned_once():
    loop = dispatched(at(2026, 11, 23, 9))
    loop.do(U1, "acknowledge", after=timedelta(minutes=10))
    dues = run([loop.ticket], at(2026, 11, 23, 13, 30))  # 3.5 h of 4 h
    assert [(d.kind, d.clock) for d in dues] == [(DueKind.WARN, ClockKind.HANDLE)]
    assert dues[0].deadline == at(2026, 11, 23, 14)
    ticket = apply(loop.ticket, dues[0].command(loop.ticket.version), SYSTEM, at(2026, 11, 23, 13, 30)).ticket
    assert run([ticket], at(2026, 11, 23, 13, 45)) == []


def test_an_unacknowledged_ticket_escalates_on_its_acknowledge_clock():
    loop = dispatched(at(2026, 11, 23, 9))
    dues = run([loop.ticket], at(2026, 11, 23, 10, 5))
    assert [(d.kind, d.clock, d.level) for d in dues] == [(DueKind.ESCALATE, ClockKind.ACKNOWLEDGE, 2)]


def test_suspended_tickets_resume_when_the_extension_runs_out_and_parked_ones_never():
    loop = dispatched(at(2026, 11, 23, 9))
    loop.do(U1, "acknowledge")
    parked = loop.copy()
    loop.do(DUTY, "approve_extension", minutes=60, note="同意延期1小时")  # from 09:02 to 10:02
    assert run([loop.ticket], at(2026, 11, 23, 10)) == []
    dues = run([loop.ticket], at(2026, 11, 23, 10, 5))
    assert [d.kind for d in dues] == [DueKind.RESUME]
    resumed = apply(loop.ticket, dues[0].command(loop.ticket.version), SYSTEM, at(2026, 11, 23, 10, 5)).ticket
    assert resumed.status is Status.ACKNOWLEDGED
    parked.do(DUTY, "approve_extension", park=True, note="挂账")
    assert run([parked.ticket], at(2027, 1, 1)) == []


def test_tickets_without_a_running_clock_or_limits_are_left_alone():
    pending = TicketState("CC3", Status.PENDING, 1, category="020102")
    loop = dispatched(at(2026, 11, 23, 9))
    loop.do(U1, "acknowledge")
    loop.do(U1, "handle")
    assert run([pending, loop.ticket], at(2026, 12, 1)) == []
    assert escalation_pass([dispatched(at(2026, 11, 23, 9)).ticket], lambda t: None, W, at(2026, 12, 1)) == []

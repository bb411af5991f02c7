"""Time limits per category and priority, and how much of them a ticket has used as of an instant.

Two clocks per turn of a unit (see `lifecycle.Assignment`): acknowledge (签收) from the dispatch, and handle
(处置) from the turn's clock start, which is the dispatch too unless the unit had returned this ticket
before. A rework turn (返工) has only a handle clock, starting at the failed verification. Approved
extensions stop both. Lights: green, yellow once 80% is used, red when the limit is exceeded.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dispatch.lifecycle import ClockKind, Pause, Priority, TicketState
from dispatch.taxonomy import Category, TimeBasis
from dispatch.worktime import NaturalTime, Span, TimeRule, WorkingTime

# 加急: an urgent ticket of an ordinary category gets half its limits, counted 24/7 (urgent categories keep
# their own, already tight and natural-time, limits).
URGENT_FACTOR = 0.5
YELLOW_AT = 0.8


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True)
class Limits:
    acknowledge: timedelta
    handle: timedelta
    natural: bool  # counted 24/7 rather than in working time


def limits_for(category: Category, priority: Priority = Priority.NORMAL) -> Limits:
    """The limits of a 小类 at a priority. Urgent categories already run 24/7 on their own tight limits,
    which are what `urgent` means for them (their flag makes every such ticket urgent, see
    dispatch.intake.urgency, so halving them again would rewrite the published 立案结案标准); `urgent`
    priority on an ordinary category (a sensor alarm) halves its limits and counts them 24/7."""
    if not category.is_subclass or category.ack_limit_h is None or category.handle_limit_h is None:
        raise ValueError(f"category {category.code} is not a 小类 with time limits")
    factor = URGENT_FACTOR if priority is Priority.URGENT and not category.urgent else 1.0
    return Limits(
        acknowledge=timedelta(hours=category.ack_limit_h * factor),
        handle=timedelta(hours=category.handle_limit_h * factor),
        natural=category.time_basis is TimeBasis.NATURAL or priority is Priority.URGENT,
    )


def rule_for(limits: Limits, working: WorkingTime) -> TimeRule:
    return NaturalTime() if limits.natural else working


@dataclass(frozen=True)
class ClockReading:
    kind: ClockKind
    started: datetime
    limit: timedelta
    used: timedelta  # counted time from `started` to `done_at` (or to now), pauses excluded
    deadline: datetime | None  # None while parked (挂账): no planned end, no deadline
    done_at: datetime | None  # when the step was done; the reading is then final
    paused: bool

    @property
    def fraction(self) -> float:
        return self.used / self.limit if self.limit else float("inf")

    @property
    def light(self) -> Light:
        return light_of(self.used, self.limit)

    @property
    def running(self) -> bool:
        return self.done_at is None

    @property
    def on_time(self) -> bool:
        return self.used <= self.limit


def light_of(used: timedelta, limit: timedelta, yellow_at: float = YELLOW_AT) -> Light:
    if used > limit:
        return Light.RED
    if used >= limit * yellow_at:
        return Light.YELLOW
    return Light.GREEN


def planned_end(pause: Pause, rule: TimeRule) -> datetime | None:
    """When an extension is due to run out; None for 挂账. The length is counted in the ticket's own rule."""
    if pause.minutes is None:
        return None
    return rule.add(pause.started, timedelta(minutes=pause.minutes))


def read_clocks(ticket: TicketState, limits: Limits, rule: TimeRule, now: datetime) -> tuple[ClockReading, ...]:
    """The current turn's clocks as of `now`; empty when no unit holds the ticket."""
    turn = ticket.current
    if turn is None:
        return ()
    used_pauses = [Span(p.started, p.ended or max(now, p.started)) for p in ticket.pauses]
    parked = False
    projected: list[Span] = []
    for p in ticket.pauses:
        end = p.ended or planned_end(p, rule)
        if end is None:
            parked = True
        else:
            projected.append(Span(p.started, end))
    paused = ticket.open_pause is not None
    clocks = []
    if not turn.rework:
        clocks.append((ClockKind.ACKNOWLEDGE, turn.dispatched_at, limits.acknowledge, turn.acknowledged_at))
    clocks.append((ClockKind.HANDLE, turn.clock_started, limits.handle, turn.handled_at))
    readings = []
    for kind, started, limit, done_at in clocks:
        until = done_at or now
        readings.append(ClockReading(
            kind=kind, started=started, limit=limit,
            used=rule.between(started, until, used_pauses),
            deadline=None if (parked and done_at is None) else rule.add(started, limit, projected),
            done_at=done_at, paused=paused and done_at is None,
        ))
    return tuple(readings)


@dataclass(frozen=True)
class Due:
    """The deadlines in force: of the running acknowledge and handle clocks (None: that clock is not
    running, or is parked by a 挂账 without a planned end). A ticket's detail shows them (contract §8)."""

    acknowledge: datetime | None = None
    handle: datetime | None = None


def in_force(ticket: TicketState, limits: Limits | None, rule: TimeRule) -> Due:
    """The deadlines of the current turn's running clocks; they do not depend on the time of reading."""
    if limits is None or ticket.current is None:
        return Due()
    found = {r.kind: r.deadline for r in read_clocks(ticket, limits, rule, ticket.current.dispatched_at)
             if r.running}
    return Due(found.get(ClockKind.ACKNOWLEDGE), found.get(ClockKind.HANDLE))


def moved(before: Due, after: Due) -> dict:
    """The particulars of a history entry that sets or moves a deadline (contract §8): `deadline`, the handle
    deadline now in force (the acknowledge one when only it runs), and `deadlines`, both; empty when the
    entry set no new deadline (an acknowledgement ends a clock, a handling or a 挂账 stops one)."""
    changed = [new for old, new in ((before.acknowledge, after.acknowledge), (before.handle, after.handle))
               if new is not None and new != old]
    if not changed:
        return {}
    return {"deadline": (after.handle or after.acknowledge).isoformat(),
            "deadlines": {"acknowledge": after.acknowledge.isoformat() if after.acknowledge else None,
                          "handle": after.handle.isoformat() if after.handle else None}}


def next_deadline(readings: tuple[ClockReading, ...]) -> datetime | None:
    """The earliest deadline of a running clock: what `tickets.deadline` and the console show."""
    running = [r.deadline for r in readings if r.running and r.deadline is not None]
    return min(running) if running else None


def dispute_time(ticket: TicketState, rule: TimeRule, now: datetime) -> timedelta:
    """Time spent between returns and the next dispatch, an open dispute counted to `now`. Shown on the
    ticket (natural and working) so that 推诿 is visible; who is charged is decided by the clock rules."""
    return sum(
        (rule.between(d.started, d.ended or now) for d in ticket.disputes),
        timedelta(0),
    )


@dataclass(frozen=True)
class ClockSummary:
    """What the ticket row, its events and the console show: the next deadline and the worst light."""

    deadline: datetime | None
    light: Light | None


def summarize(ticket: TicketState, limits: Limits | None, working: WorkingTime, now: datetime) -> ClockSummary:
    if limits is None:
        return ClockSummary(None, None)
    readings = read_clocks(ticket, limits, rule_for(limits, working), now)
    running = [r for r in readings if r.running]
    if not running:
        return ClockSummary(None, None)
    order = [Light.GREEN, Light.YELLOW, Light.RED]
    return ClockSummary(next_deadline(readings), max((r.light for r in running), key=order.index))

"""The deadline pass (督办) as a pure function: given open tickets as of `now`, what to warn, escalate, resume.

The ladder is street (1) → district command centre (2) → city command centre (3). A ticket starts on the
rung of its lead unit's level (a street office is first supervised by its street, a district department by
the district command centre) and climbs one rung each time the used share of a running clock passes the next
step: more than 100% of the limit, 150%, 200%. Yellow (80%) is warned once per clock per turn.

Idempotent: the pass compares with what the ticket already records (`escalation_level`, `warned`), so a
second run at the same instant, or by a second process, decides nothing new; the store applies each
decision through `lifecycle.apply` with the ticket's version, so a racing user action simply wins and the
next pass re-decides. A pass that was down for a while emits one decision per rung, in order, so that every
step is an event the console shows.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dispatch.deadlines import Limits, planned_end, read_clocks, rule_for
from dispatch.lifecycle import MAX_ESCALATION_LEVEL, ClockKind, Command, TicketState
from dispatch.model import Status
from dispatch.transitions import WORKING, Action
from dispatch.worktime import WorkingTime

LADDER = {1: "street", 2: "district", 3: "city"}
_RUNG_OF_LEVEL = {"street": 1, "district": 2, "city": 3}


@dataclass(frozen=True)
class EscalationPolicy:
    yellow: float = 0.8
    steps: tuple[float, ...] = (1.0, 1.5, 2.0)  # used share above which each successive rung is reached


class DueKind(StrEnum):
    WARN = "warn"
    ESCALATE = "escalate"
    RESUME = "resume"  # an approved extension has run out


@dataclass(frozen=True)
class Due:
    """One decision of the pass. `rung` names whom an escalation goes to (street/district/city)."""

    ticket_no: str
    kind: DueKind
    clock: ClockKind | None = None
    level: int | None = None
    rung: str | None = None
    deadline: datetime | None = None
    fraction: float | None = None

    def command(self, version: int) -> Command:
        """The lifecycle command that carries this decision out, for `dispatch.actors.SYSTEM`."""
        action = {DueKind.WARN: Action.WARN, DueKind.ESCALATE: Action.ESCALATE, DueKind.RESUME: Action.RESUME}
        note = {
            DueKind.WARN: f"{self.clock} deadline {self.deadline:%Y-%m-%d %H:%M} is near" if self.deadline else None,
            DueKind.ESCALATE: f"{self.clock} overdue: escalated to the {self.rung} level",
            DueKind.RESUME: "the approved extension has run out",
        }[self.kind]
        return Command(action[self.kind], version, note=note, level=self.level, clock=self.clock)


def first_rung(unit_level: str | None) -> int:
    """The rung a ticket first escalates to: its lead unit's own level (street when unknown)."""
    return _RUNG_OF_LEVEL.get(unit_level or "", 1)


def target_level(fraction: float, start: int, policy: EscalationPolicy) -> int:
    """How high a clock that used `fraction` of its limit should have climbed; 0 while not overdue."""
    crossed = sum(1 for step in policy.steps if fraction > step)
    return 0 if crossed == 0 else min(start + crossed - 1, MAX_ESCALATION_LEVEL)


def escalation_pass(
    tickets: Iterable[TicketState],
    limits_of: Callable[[TicketState], Limits | None],
    working: WorkingTime,
    now: datetime,
    unit_level_of: Callable[[str], str | None] = lambda _unit: None,
    policy: EscalationPolicy = EscalationPolicy(),
) -> list[Due]:
    """Decisions for these tickets as of `now`, in input order. `limits_of` gives a ticket's limits (None:
    no category, no clock); `unit_level_of` maps a unit code to street/district/city."""
    out: list[Due] = []
    for ticket in tickets:
        limits = limits_of(ticket)
        if limits is None:
            continue
        rule = rule_for(limits, working)
        if ticket.status is Status.SUSPENDED:
            pause = ticket.open_pause
            end = planned_end(pause, rule) if pause is not None else None
            if end is not None and end <= now:
                out.append(Due(ticket.ticket_no, DueKind.RESUME, deadline=end))
            continue
        if ticket.status not in WORKING:
            continue
        running = [r for r in read_clocks(ticket, limits, rule, now) if r.running]
        for r in running:
            if policy.yellow <= r.fraction and r.on_time and r.kind not in ticket.warned:
                out.append(Due(ticket.ticket_no, DueKind.WARN, clock=r.kind, deadline=r.deadline, fraction=r.fraction))
        if not running:
            continue
        worst = max(running, key=lambda r: r.fraction)
        start = first_rung(unit_level_of(ticket.lead) if ticket.lead else None)
        target = target_level(worst.fraction, start, policy)
        for level in range(max(ticket.escalation_level + 1, start), target + 1):
            out.append(Due(
                ticket.ticket_no, DueKind.ESCALATE, clock=worst.kind, level=level, rung=LADDER[level],
                deadline=worst.deadline, fraction=worst.fraction,
            ))
    return out


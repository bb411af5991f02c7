"""The closed loop as a pure function: `apply(ticket, command, actor, now) -> Outcome`.

`apply` never reads the clock, the database or the calendar. It checks, in this order, unit scope (403),
the version (409), the table in `dispatch.transitions` (403 for a role that may not, 422 for a transition
nobody may make), the loop's guards (a second return needs arbitration, an arbitration is final, ...), and
the command's own fields (a reason, a unit, a duration); then it returns the new state and one history
record. The caller saves both with `UPDATE … WHERE version = :v` so that two clicks on one version cannot
both win. The state carries what deadlines, escalation and evaluation need later (assignments with their
clock starts, pauses, disputes), so none of them has to re-read history.

Why one module of about 600 lines (over the ~400 the project aims for): it is one state machine — the state,
the command, the outcome and one small handler per action, all reading the same guards — and splitting the
handlers from `apply` would scatter the order of checks this docstring promises.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from dispatch.actors import Actor, Party, party_of
from dispatch.errors import (
    DispatchError,
    InvalidCommand,
    OutOfScope,
    RoleNotAllowed,
    StaleVersion,
    TransitionNotAllowed,
)
from dispatch.model import Status
from dispatch.transitions import CENTRE, PREVIOUS, Action, actions_for, find, others_may

# The escalation ladder's top rung (1 street, 2 district command centre, 3 city command centre).
MAX_ESCALATION_LEVEL = 3


class Priority(StrEnum):
    """`urgent` (加急) halves a category's limits and counts them in natural hours; see dispatch.deadlines."""

    NORMAL = "normal"
    URGENT = "urgent"


class ClockKind(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    HANDLE = "handle"


class AssignmentEnd(StrEnum):
    RETURNED = "returned"  # the unit sent it back (退回)
    REASSIGNED = "reassigned"  # the command centre moved it (改派)
    REOPENED = "reopened"  # its handling failed verification; a rework turn follows


@dataclass(frozen=True)
class Assignment:
    """One unit's turn as lead. `dispatched_at` starts its acknowledge clock; `clock_started` its handle
    clock, which is earlier than `dispatched_at` when the unit had returned this ticket before (the
    anti-推诿 rule: a wrongful return buys no time). A rework turn starts at the failed verification and
    needs no new acknowledgement."""

    unit: str
    dispatched_at: datetime
    clock_started: datetime
    rework: bool = False
    acknowledged_at: datetime | None = None
    handled_at: datetime | None = None
    ended_at: datetime | None = None
    end: AssignmentEnd | None = None


@dataclass(frozen=True)
class Assist:
    """An assisting unit's part (协办). `superseded`: the lead declared the whole handled first."""

    unit: str
    added_at: datetime
    acknowledged_at: datetime | None = None
    handled_at: datetime | None = None
    superseded: bool = False


@dataclass(frozen=True)
class Dispute:
    """Time between a return and the next dispatch (or rejection): shown, and charged as the rules say."""

    unit: str
    reason: str
    started: datetime
    ended: datetime | None = None
    arbitrated: bool = False


@dataclass(frozen=True)
class Pause:
    """An approved extension: the clock stops from `started` until `ended` (resume, handle or reassign).
    `minutes` is the planned length in the ticket's time basis; None is 挂账 (parked until taken up)."""

    started: datetime
    minutes: float | None
    reason: str
    ended: datetime | None = None


@dataclass(frozen=True)
class ExtensionRequest:
    minutes: float | None
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class TicketState:
    """Everything the loop decides on. `version` starts at 1 and grows by one with every change."""

    ticket_no: str
    status: Status
    version: int
    category: str | None = None
    priority: Priority = Priority.NORMAL
    grid: str | None = None
    assignments: tuple[Assignment, ...] = ()
    assists: tuple[Assist, ...] = ()
    disputes: tuple[Dispute, ...] = ()
    pauses: tuple[Pause, ...] = ()
    extension_request: ExtensionRequest | None = None
    suspended_from: Status | None = None
    returns: int = 0
    arbitrated: bool = False
    reopen_count: int = 0
    escalation_level: int = 0
    warned: frozenset[ClockKind] = frozenset()
    preregistered: bool = False
    # Routed within the border watch distance of a district border (属地不符 risk): the command centre
    # confirms the area with one click, or reassigns; either settles it.
    border_check: bool = False

    @property
    def current(self) -> Assignment | None:
        """The lead unit's running turn, if a unit holds the ticket (none while pending or returned)."""
        if self.assignments and self.assignments[-1].ended_at is None:
            return self.assignments[-1]
        return None

    @property
    def lead(self) -> str | None:
        current = self.current
        return current.unit if current else None

    @property
    def assist_units(self) -> tuple[str, ...]:
        return tuple(a.unit for a in self.assists)

    @property
    def open_pause(self) -> Pause | None:
        if self.pauses and self.pauses[-1].ended is None:
            return self.pauses[-1]
        return None

    @property
    def open_dispute(self) -> Dispute | None:
        if self.disputes and self.disputes[-1].ended is None:
            return self.disputes[-1]
        return None


@dataclass(frozen=True)
class Command:
    """One request to change a ticket, as the API receives it (`POST …/actions`)."""

    action: Action | str
    version: int
    note: str | None = None
    to_unit: str | None = None  # dispatch, reassign, add_assist
    category: str | None = None  # preregister, register: the 小类 code
    minutes: float | None = None  # request/approve_extension: length in the ticket's time basis
    park: bool = False  # request/approve_extension: 挂账, no planned end
    level: int | None = None  # escalate: the rung to reach (default: one up)
    clock: ClockKind | None = None  # warn: the clock that turned yellow


@dataclass(frozen=True)
class Record:
    """One append-only history row: who (name, role, party), what, from and to which status, why, when,
    and the action's particulars in `data` (unit, duration, level, arbitration, ...)."""

    at: datetime
    actor: str
    role: str
    party: Party
    action: Action
    from_status: Status | None
    to_status: Status
    note: str | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Outcome:
    ticket: TicketState
    record: Record


# Actions that must say why: they are the ones a later reader of the history will question.
NOTE_REQUIRED = frozenset({
    Action.REJECT, Action.RETURN, Action.FAIL_VERIFY, Action.REQUEST_EXTENSION, Action.DENY_EXTENSION,
    Action.COMMENT, Action.SPLIT, Action.REASSIGN,
})
UNIT_REQUIRED = frozenset({Action.DISPATCH, Action.REASSIGN, Action.ADD_ASSIST})


def opened(ticket_no: str, status: Status, at: datetime, *, category: str | None = None, grid: str | None = None,
           assignee: str | None = None, priority: Priority = Priority.NORMAL,
           border_check: bool = False) -> TicketState:
    """The state of a ticket the worker has just opened (`dispatch.intake.open_ticket` decides `status`):
    version 1, and when it was dispatched at once, the assignee's first turn with its clocks started `at`."""
    turns: tuple[Assignment, ...] = ()
    if status is Status.DISPATCHED:
        if assignee is None:
            raise ValueError("a dispatched ticket needs its assignee")
        turns = (Assignment(unit=assignee, dispatched_at=at, clock_started=at),)
    return TicketState(ticket_no, status, 1, category=category, priority=priority, grid=grid, assignments=turns,
                       border_check=border_check)


def allowed_actions(ticket: TicketState, actor: Actor) -> tuple[Action, ...]:
    """What this actor may do to this ticket now (table and guards; not the command's own fields).
    Empty when the ticket is out of the actor's scope. This is what the console offers as buttons."""
    party = _party(ticket, actor)
    if party is None:
        return ()
    return tuple(a for a in actions_for(ticket.status, party) if _guard(ticket, a, party, actor) is None)


def apply(ticket: TicketState, command: Command, actor: Actor, now: datetime) -> Outcome:
    """The new state and its history record, or a `DispatchError` saying why not."""
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    party = _party(ticket, actor)
    if party is None:
        raise OutOfScope(f"ticket {ticket.ticket_no} is not in the scope of {actor.role} {actor.name}")
    if command.version != ticket.version:
        raise StaleVersion(ticket.version, command.version)
    try:
        action = Action(command.action)
    except ValueError:
        raise InvalidCommand(
            f"unknown action {command.action!r}", allowed=_names(allowed_actions(ticket, actor)),
            fields={"action": "unknown"},
        ) from None
    row = find(ticket.status, action, party)
    if row is None:
        allowed = _names(allowed_actions(ticket, actor))
        if others_may(ticket.status, action, party):
            raise RoleNotAllowed(
                f"{party} may not {action} a {ticket.status} ticket; allowed: {', '.join(allowed) or 'nothing'}",
                allowed=allowed,
            )
        raise TransitionNotAllowed(
            f"{action} is not possible on a {ticket.status} ticket for {party}; "
            f"allowed: {', '.join(allowed) or 'nothing'}",
            allowed=allowed,
        )
    refusal = _guard(ticket, action, party, actor)
    if refusal is not None:
        refusal.allowed = _names(allowed_actions(ticket, actor))
        raise refusal
    _validate(ticket, command, action)
    target = ticket.suspended_from if row.target is PREVIOUS else row.target
    assert isinstance(target, Status)
    changed, data = _EFFECTS[action](ticket, command, party, actor, now)
    changed = dataclasses.replace(changed, status=target, version=ticket.version + 1)
    record = Record(
        at=now, actor=actor.name, role=str(actor.role), party=party, action=action,
        from_status=ticket.status, to_status=target, note=(command.note or "").strip() or None,
        data=MappingProxyType({k: v for k, v in data.items() if v is not None}),
    )
    return Outcome(changed, record)


def _party(ticket: TicketState, actor: Actor) -> Party | None:
    """Assisting units stay in scope after the lead superseded their part: they may still comment."""
    return party_of(actor, ticket.lead, set(ticket.assist_units), ticket.grid)


def _names(actions: tuple[Action, ...]) -> tuple[str, ...]:
    return tuple(str(a) for a in actions)


def _assist(ticket: TicketState, unit: str | None) -> Assist | None:
    return next((a for a in ticket.assists if a.unit == unit), None)


def _guard(ticket: TicketState, action: Action, party: Party, actor: Actor) -> DispatchError | None:
    """Rules of the loop beyond the status; None when the action may go ahead.
    The party here is already allowed by the table."""
    if party is Party.ASSIST and action in (Action.ACKNOWLEDGE, Action.HANDLE):
        return _part_guard(ticket, action, actor.unit)
    if action is Action.RETURN and ticket.arbitrated:
        return TransitionNotAllowed(
            "the 值班长's arbitration is final: this ticket cannot be returned again; "
            "handle it or request an extension"
        )
    if action is Action.DISPATCH and ticket.status is Status.RETURNED and ticket.returns >= 2 and party not in CENTRE:
        return RoleNotAllowed("this ticket was returned twice: re-dispatch is the 值班长's arbitration")
    if action is Action.REQUEST_EXTENSION and ticket.extension_request is not None:
        return TransitionNotAllowed("an extension request is already waiting for the 值班长")
    if action is Action.DENY_EXTENSION and ticket.extension_request is None:
        return TransitionNotAllowed("there is no extension request to deny")
    if action is Action.CONFIRM_AREA and not ticket.border_check:
        return TransitionNotAllowed("this ticket's area needs no confirmation (not routed near a border, or settled)")
    if action is Action.ESCALATE and ticket.escalation_level >= MAX_ESCALATION_LEVEL:
        return TransitionNotAllowed("already escalated to the city command centre, the top of the ladder")
    return None


def _part_guard(ticket: TicketState, action: Action, unit: str | None) -> DispatchError | None:
    part = _assist(ticket, unit)
    if part is None:  # the party would not be ASSIST
        return OutOfScope("not an assisting unit of this ticket")
    if part.superseded:
        return TransitionNotAllowed("the lead unit has reported the whole ticket handled; this part is closed")
    if action is Action.ACKNOWLEDGE and part.acknowledged_at is not None:
        return TransitionNotAllowed("this unit has already acknowledged its part")
    if action is Action.HANDLE and part.acknowledged_at is None:
        return TransitionNotAllowed("acknowledge the part before reporting it handled")
    if action is Action.HANDLE and part.handled_at is not None:
        return TransitionNotAllowed("this unit has already reported its part handled")
    return None


def _validate(ticket: TicketState, command: Command, action: Action) -> None:
    """The command's own fields; raises InvalidCommand naming each missing or bad field."""
    fields: dict[str, str] = {}
    note = (command.note or "").strip()
    arbitration = action is Action.DISPATCH and ticket.status is Status.RETURNED and ticket.returns >= 2
    if action in NOTE_REQUIRED and not note:
        fields["note"] = f"{action} needs a reason"
    if arbitration and not note:
        fields["note"] = "an arbitration is final and must be written down"
    if action in UNIT_REQUIRED and not command.to_unit:
        fields["to_unit"] = f"{action} needs the unit's code"
    if action is Action.REASSIGN and command.to_unit and command.to_unit == ticket.lead:
        fields["to_unit"] = "the ticket is already with this unit"
    part = _assist(ticket, command.to_unit)
    if action is Action.ADD_ASSIST and command.to_unit and (
        command.to_unit == ticket.lead or (part is not None and not part.superseded)
    ):
        fields["to_unit"] = "this unit is already the lead or an assisting unit"
    if action is Action.REGISTER and not (command.category or ticket.category):
        fields["category"] = "立案 needs a category (小类 code)"
    if action in (Action.REQUEST_EXTENSION, Action.APPROVE_EXTENSION):
        asked = ticket.extension_request
        if command.minutes is not None and command.minutes <= 0:
            fields["minutes"] = "an extension must be longer than zero"
        elif action is Action.REQUEST_EXTENSION or asked is None:
            if not command.park and command.minutes is None:
                fields["minutes"] = "give the extension's length in minutes, or park (挂账) the ticket"
        if action is Action.APPROVE_EXTENSION and not note and (asked is None or command.park):
            fields["note"] = "an extension the 值班长 grants unasked, or a 挂账, needs a written reason"
    if action is Action.ESCALATE and command.level is not None and not (
        ticket.escalation_level < command.level <= MAX_ESCALATION_LEVEL
    ):
        fields["level"] = f"must be above {ticket.escalation_level} and at most {MAX_ESCALATION_LEVEL}"
    if action is Action.WARN:
        if command.clock is None:
            fields["clock"] = "which clock turned yellow"
        elif ClockKind(command.clock) in ticket.warned:
            fields["clock"] = "this clock has already been warned"
    if fields:
        raise InvalidCommand("; ".join(f"{k}: {v}" for k, v in fields.items()), fields=fields)


# --- effects: each returns the changed state (status and version are set by `apply`) and record data ---

def _close_dispute(ticket: TicketState, now: datetime, arbitrated: bool) -> tuple[Dispute, ...]:
    open_ = ticket.open_dispute
    if open_ is None:
        return ticket.disputes
    return ticket.disputes[:-1] + (dataclasses.replace(open_, ended=now, arbitrated=arbitrated),)


def _close_pause(ticket: TicketState, now: datetime) -> tuple[Pause, ...]:
    open_ = ticket.open_pause
    if open_ is None:
        return ticket.pauses
    return ticket.pauses[:-1] + (dataclasses.replace(open_, ended=now),)


def _end_current(ticket: TicketState, now: datetime, end: AssignmentEnd) -> tuple[Assignment, ...]:
    current = ticket.current
    if current is None:
        return ticket.assignments
    return ticket.assignments[:-1] + (dataclasses.replace(current, ended_at=now, end=end),)


def _turn_for(assignments: tuple[Assignment, ...], unit: str, now: datetime) -> Assignment:
    """A new turn for `unit`. If the unit returned this ticket before, its handle clock keeps the start of
    the turn it returned: the time in dispute counts against it (anti-推诿)."""
    returned = [a for a in assignments if a.unit == unit and a.end is AssignmentEnd.RETURNED]
    started = returned[-1].clock_started if returned else now
    return Assignment(unit=unit, dispatched_at=now, clock_started=started)


def _fresh_turn(ticket: TicketState, assignments: tuple[Assignment, ...], unit: str, now: datetime) -> dict:
    turn = _turn_for(assignments, unit, now)
    return {
        "assignments": assignments + (turn,), "assists": (), "escalation_level": 0, "warned": frozenset(),
        "extension_request": None, "suspended_from": None, "pauses": _close_pause(ticket, now),
    }


def _nothing(ticket, command, party, actor, now):
    return ticket, {}


def _preregister(ticket, command, party, actor, now):
    return dataclasses.replace(ticket, preregistered=True, category=command.category or ticket.category), {
        "category": command.category,
    }


def _register(ticket, command, party, actor, now):
    return dataclasses.replace(ticket, category=command.category or ticket.category), {
        "category": command.category or ticket.category,
    }


def _reject(ticket, command, party, actor, now):
    return dataclasses.replace(ticket, disputes=_close_dispute(ticket, now, arbitrated=party in CENTRE)), {}


def _dispatch(ticket, command, party, actor, now):
    arbitration = ticket.status is Status.RETURNED and ticket.returns >= 2
    changes = _fresh_turn(ticket, ticket.assignments, command.to_unit, now)
    changes["disputes"] = _close_dispute(ticket, now, arbitrated=arbitration)
    changes["arbitrated"] = ticket.arbitrated or arbitration
    if party is not Party.SYSTEM:  # an operator choosing the unit settles the area question
        changes["border_check"] = False
    turn = changes["assignments"][-1]
    return dataclasses.replace(ticket, **changes), {
        "to_unit": command.to_unit, "arbitration": arbitration or None,
        "clock_started": turn.clock_started.isoformat() if turn.clock_started != now else None,
    }


def _confirm_area(ticket, command, party, actor, now):
    return dataclasses.replace(ticket, border_check=False), {}


def _reassign(ticket, command, party, actor, now):
    ended = _end_current(ticket, now, AssignmentEnd.REASSIGNED)
    changes = _fresh_turn(ticket, ended, command.to_unit, now)
    changes["border_check"] = False  # choosing the unit settles the area question too
    return dataclasses.replace(ticket, **changes), {
        "from_unit": ticket.lead, "to_unit": command.to_unit,
        "dropped_assists": ",".join(ticket.assist_units) or None,
    }


def _acknowledge(ticket, command, party, actor, now):
    if party is Party.ASSIST:
        return _update_part(ticket, actor.unit, acknowledged_at=now), {"part": actor.unit}
    current = ticket.current
    assert current is not None
    turn = dataclasses.replace(current, acknowledged_at=now)
    return dataclasses.replace(ticket, assignments=ticket.assignments[:-1] + (turn,)), {"unit": current.unit}


def _handle(ticket, command, party, actor, now):
    if party is Party.ASSIST:
        return _update_part(ticket, actor.unit, handled_at=now), {"part": actor.unit}
    current = ticket.current
    assert current is not None
    turn = dataclasses.replace(current, handled_at=now)
    outstanding = tuple(a.unit for a in ticket.assists if a.handled_at is None and not a.superseded)
    assists = tuple(
        dataclasses.replace(a, superseded=True) if a.unit in outstanding else a for a in ticket.assists
    )
    return dataclasses.replace(
        ticket, assignments=ticket.assignments[:-1] + (turn,), assists=assists, pauses=_close_pause(ticket, now),
        extension_request=None, suspended_from=None,
    ), {"unit": current.unit, "outstanding_parts": ",".join(outstanding) or None}


def _update_part(ticket: TicketState, unit: str | None, **changes) -> TicketState:
    assists = tuple(dataclasses.replace(a, **changes) if a.unit == unit else a for a in ticket.assists)
    return dataclasses.replace(ticket, assists=assists)


def _return(ticket, command, party, actor, now):
    current = ticket.current
    assert current is not None
    dispute = Dispute(unit=current.unit, reason=(command.note or "").strip(), started=now)
    return dataclasses.replace(
        ticket, assignments=_end_current(ticket, now, AssignmentEnd.RETURNED), assists=(),
        returns=ticket.returns + 1, disputes=ticket.disputes + (dispute,), escalation_level=0,
        warned=frozenset(), extension_request=None,
    ), {"unit": current.unit, "returns": ticket.returns + 1}


def _fail_verify(ticket, command, party, actor, now):
    current = ticket.current
    assert current is not None
    ended = _end_current(ticket, now, AssignmentEnd.REOPENED)
    rework = Assignment(
        unit=current.unit, dispatched_at=now, clock_started=now, rework=True, acknowledged_at=now,
    )
    return dataclasses.replace(
        ticket, assignments=ended + (rework,), reopen_count=ticket.reopen_count + 1, escalation_level=0,
        warned=frozenset(),
    ), {"unit": current.unit, "reopen_count": ticket.reopen_count + 1}


def _escalate(ticket, command, party, actor, now):
    level = command.level if command.level is not None else ticket.escalation_level + 1
    return dataclasses.replace(ticket, escalation_level=level), {"level": level}


def _warn(ticket, command, party, actor, now):
    clock = ClockKind(command.clock)
    return dataclasses.replace(ticket, warned=ticket.warned | {clock}), {"clock": str(clock)}


def _request_extension(ticket, command, party, actor, now):
    request = ExtensionRequest(
        minutes=None if command.park else command.minutes, reason=(command.note or "").strip(),
        by=actor.name, at=now,
    )
    return dataclasses.replace(ticket, extension_request=request), {
        "minutes": request.minutes, "park": command.park or None,
    }


def _approve_extension(ticket, command, party, actor, now):
    asked = ticket.extension_request
    if command.park:
        minutes = None
    elif command.minutes is not None:
        minutes = command.minutes
    else:
        assert asked is not None
        minutes = asked.minutes
    reason = (command.note or "").strip() or (asked.reason if asked else "")
    pause = Pause(started=now, minutes=minutes, reason=reason)
    return dataclasses.replace(
        ticket, pauses=ticket.pauses + (pause,), extension_request=None, suspended_from=ticket.status,
    ), {"minutes": minutes, "park": minutes is None or None, "requested_by": asked.by if asked else None}


def _deny_extension(ticket, command, party, actor, now):
    asked = ticket.extension_request
    return dataclasses.replace(ticket, extension_request=None), {"requested_by": asked.by if asked else None}


def _resume(ticket, command, party, actor, now):
    return dataclasses.replace(ticket, pauses=_close_pause(ticket, now), suspended_from=None), {}


def _add_assist(ticket, command, party, actor, now):
    part = Assist(unit=command.to_unit, added_at=now)
    kept = tuple(a for a in ticket.assists if a.unit != command.to_unit)  # a superseded part starts afresh
    return dataclasses.replace(ticket, assists=kept + (part,)), {"to_unit": command.to_unit}


_EFFECTS = {
    Action.PREREGISTER: _preregister,
    Action.REGISTER: _register,
    Action.REJECT: _reject,
    Action.DISPATCH: _dispatch,
    Action.ACKNOWLEDGE: _acknowledge,
    Action.RETURN: _return,
    Action.HANDLE: _handle,
    Action.VERIFY: _nothing,
    Action.FAIL_VERIFY: _fail_verify,
    Action.CLOSE: _nothing,
    Action.ESCALATE: _escalate,
    Action.REQUEST_EXTENSION: _request_extension,
    Action.APPROVE_EXTENSION: _approve_extension,
    Action.DENY_EXTENSION: _deny_extension,
    Action.RESUME: _resume,
    Action.REASSIGN: _reassign,
    Action.ADD_ASSIST: _add_assist,
    Action.COMMENT: _nothing,
    Action.WARN: _warn,
    Action.SPLIT: _nothing,
    Action.CONFIRM_AREA: _confirm_area,
}

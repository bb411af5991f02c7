"""What each action does to a ticket's loop state: one small function per action, each returning the changed
state (status and version are set by `dispatch.lifecycle.apply`) and the particulars for its history record.
They run after the table and the guards (`dispatch.guards`) have let the command through.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime

from dispatch.actors import Party
from dispatch.model import Status
from dispatch.state import (
    Assignment,
    AssignmentEnd,
    Assist,
    ClockKind,
    Dispute,
    ExtensionRequest,
    Pause,
    TicketState,
)
from dispatch.transitions import CENTRE, Action


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


def _locate(ticket, command, party, actor, now):
    where = command.position
    assert where is not None  # validated
    previous = {"lon": where.previous[0], "lat": where.previous[1]} if where.previous else None
    return dataclasses.replace(ticket, grid=where.grid, border_check=where.near_border), {
        "from": previous, "to": {"lon": where.lon, "lat": where.lat}, "district": where.district,
        "grid": where.grid, "suggested_unit": where.assignee, "rule": where.rule, "method": where.method,
        "near_border": where.near_border or None,
    }


def _merge_into(ticket, command, party, actor, now):
    """The duplicate ends: a unit's turn ends (merged), a pause or dispute closes, a request lapses, assisting
    parts are superseded. Its reports move to `command.into` (the application does that, with the target's line)."""
    assists = tuple(dataclasses.replace(a, superseded=True) if a.handled_at is None else a for a in ticket.assists)
    return dataclasses.replace(
        ticket, assignments=_end_current(ticket, now, AssignmentEnd.MERGED), assists=assists,
        pauses=_close_pause(ticket, now), disputes=_close_dispute(ticket, now, arbitrated=False),
        extension_request=None, suspended_from=None, border_check=False,
    ), {"into": command.into, "unit": ticket.lead}


EFFECTS = {
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
    Action.LOCATE: _locate,
    Action.MERGE_INTO: _merge_into,
}

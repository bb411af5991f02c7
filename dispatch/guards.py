"""The loop's rules beyond the transition table: guards on the ticket (a second return needs arbitration, an
arbitration is final, one extension request at a time, ...) and the command's own fields (a reason, a unit, a
duration, a level, a point). `dispatch.lifecycle.apply` runs them in the order its docstring promises.
"""
from __future__ import annotations

from dispatch.actors import Actor, Party
from dispatch.errors import DispatchError, InvalidCommand, OutOfScope, RoleNotAllowed, TransitionNotAllowed
from dispatch.model import Status
from dispatch.state import MAX_ESCALATION_LEVEL, Assist, ClockKind, Command, TicketState
from dispatch.transitions import CENTRE, Action

# Actions that must say why: they are the ones a later reader of the history will question.
NOTE_REQUIRED = frozenset({
    Action.REJECT, Action.RETURN, Action.FAIL_VERIFY, Action.REQUEST_EXTENSION, Action.DENY_EXTENSION,
    Action.COMMENT, Action.SPLIT, Action.REASSIGN,
})
UNIT_REQUIRED = frozenset({Action.DISPATCH, Action.REASSIGN, Action.ADD_ASSIST})



def assist_of(ticket: TicketState, unit: str | None) -> Assist | None:
    return next((a for a in ticket.assists if a.unit == unit), None)


def guard(ticket: TicketState, action: Action, party: Party, actor: Actor) -> DispatchError | None:
    """Rules of the loop beyond the status; None when the action may go ahead.
    The party here is already allowed by the table."""
    if party is Party.ASSIST and action in (Action.ACKNOWLEDGE, Action.HANDLE):
        return part_guard(ticket, action, actor.unit)
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


def part_guard(ticket: TicketState, action: Action, unit: str | None) -> DispatchError | None:
    part = assist_of(ticket, unit)
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


def validate(ticket: TicketState, command: Command, action: Action, party: Party) -> None:
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
    part = assist_of(ticket, command.to_unit)
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
    if action is Action.ESCALATE and party is not Party.SYSTEM and not note:
        fields["note"] = "a person's escalation (督办) must say why"
    if action is Action.ESCALATE and command.level is not None and not (
        ticket.escalation_level < command.level <= MAX_ESCALATION_LEVEL
    ):
        fields["level"] = f"must be above {ticket.escalation_level} and at most {MAX_ESCALATION_LEVEL}"
    if action is Action.LOCATE:
        if command.position is None:
            fields["location"] = "定位 needs the point: {lon, lat, crs}"
        elif command.position.district is None:
            fields["location"] = "the point is outside the city's areas (no district there)"
    if action is Action.MERGE_INTO:
        if not (command.into or "").strip():
            fields["into"] = "合并 needs the number of the ticket to merge into"
        elif command.into == ticket.ticket_no:
            fields["into"] = "a ticket cannot be merged into itself"
    if action is Action.WARN:
        if command.clock is None:
            fields["clock"] = "which clock turned yellow"
        elif ClockKind(command.clock) in ticket.warned:
            fields["clock"] = "this clock has already been warned"
    if fields:
        raise InvalidCommand("; ".join(f"{k}: {v}" for k, v in fields.items()), fields=fields)

"""The closed loop as pure functions: every change of a ticket is decided here and leaves history records.

- `open_ticket(ticket_no, opening, at, …) -> Opened`: a ticket's first state and its opening records (the
  intake rules of `dispatch.intake` decide the `Opening`);
- `merge(status, at, …) -> Record`: a report attached to an open ticket (the worker plans merges with
  `dispatch.merge`);
- `apply(ticket, command, actor, now) -> Outcome`: a person's or the deadline pass's command.

The store turns the records into hash-chained history rows (store.history) and events (store.events), one
writer for every change; the worker does it for a whole batch in one statement per table.

`apply` never reads the clock, the database or the calendar. It checks, in this order, unit scope (403),
the version (409), the table in `dispatch.transitions` (403 for a role that may not, 422 for a transition
nobody may make), the loop's guards (`dispatch.guards`: a second return needs arbitration, an arbitration is
final, ...), and the command's own fields (a reason, a unit, a duration, a point); then it returns the new
state (`dispatch.effects`) and one history record. The caller saves both with `UPDATE … WHERE version = :v`
so that two clicks on one version cannot both win. The state (`dispatch.state`) carries what deadlines,
escalation and evaluation need later (assignments with their clock starts, pauses, disputes), so none of
them has to re-read history.
"""
from __future__ import annotations

import dataclasses
import functools
from datetime import datetime
from types import MappingProxyType

from dispatch.actors import SYSTEM, Actor, Party, party_of
from dispatch.effects import EFFECTS
from dispatch.errors import InvalidCommand, OutOfScope, RoleNotAllowed, StaleVersion, TransitionNotAllowed
from dispatch.guards import NOTE_REQUIRED, UNIT_REQUIRED, guard, validate
from dispatch.model import FINAL_STATUSES, Status
from dispatch.state import (
    MAX_ESCALATION_LEVEL,
    Assignment,
    AssignmentEnd,
    Assist,
    ClockKind,
    Command,
    Dispute,
    ExtensionRequest,
    Opened,
    Opening,
    Outcome,
    Pause,
    Position,
    Priority,
    Record,
    TicketState,
)
from dispatch.transitions import PREVIOUS, Action, HistoryAction, actions_for, find, others_may

__all__ = [
    "MAX_ESCALATION_LEVEL", "NOTE_REQUIRED", "UNIT_REQUIRED", "Assignment", "AssignmentEnd", "Assist", "ClockKind",
    "Command", "Dispute", "ExtensionRequest", "Opened", "Opening", "Outcome", "Pause", "Position", "Priority",
    "Record", "TicketState", "absorb", "allowed_actions", "merged_note", "apply", "merge", "open_ticket", "opened",
]

_NO_DATA: MappingProxyType = MappingProxyType({})


def opened(ticket_no: str, status: Status, at: datetime, *, category: str | None = None, grid: str | None = None,
           assignee: str | None = None, priority: Priority = Priority.NORMAL,
           border_check: bool = False) -> TicketState:
    """The state of a ticket just opened with `status`: version 1, and when it was dispatched at once, the
    assignee's first turn with its clocks started `at`. (Also the state of a ticket written before the loop
    state was stored: store.loop rebuilds it from the columns.)"""
    turns: tuple[Assignment, ...] = ()
    if status is Status.DISPATCHED:
        if assignee is None:
            raise ValueError("a dispatched ticket needs its assignee")
        turns = (Assignment(unit=assignee, dispatched_at=at, clock_started=at),)
    return TicketState(ticket_no, status, 1, category=category, priority=priority, grid=grid, assignments=turns,
                       border_check=border_check)


def _by_system(at: datetime, action: Action | HistoryAction, from_status: Status | None, to_status: Status,
               note: str | None, data=_NO_DATA) -> Record:
    return Record(at=at, actor=SYSTEM.name, role=str(SYSTEM.role), party=Party.SYSTEM, action=action,
                  from_status=from_status, to_status=to_status, note=note, data=data)


def open_ticket(ticket_no: str, opening: Opening, at: datetime, *, category: str | None = None,
                grid: str | None = None, assignee: str | None = None, priority: Priority = Priority.NORMAL,
                border_check: bool = False) -> Opened:
    """A ticket opened by the worker from a report, as the intake rules decided (`dispatch.intake.decide`):
    registered and dispatched at once (two records by the system, the assignee's clocks running from `at`), or
    `pending` for an operator (one `create` record saying why)."""
    records = opening_records(opening, at)
    ticket = opened(ticket_no, opening.status, at, category=category, grid=grid, assignee=assignee,
                    priority=priority, border_check=border_check)
    return Opened(ticket, records)


@functools.lru_cache(maxsize=256)
def opening_records(opening: Opening, at: datetime) -> tuple[Record, ...]:
    """The records of an opening. They depend on the opening and the instant only, and are immutable: tickets
    a worker opens together the same way share one tuple (cached; a batch has a handful of kinds)."""
    if opening.status is Status.DISPATCHED:
        register_note, dispatch_note = opening.notes
        return (_by_system(at, Action.REGISTER, None, Status.REGISTERED, register_note),
                _by_system(at, Action.DISPATCH, Status.REGISTERED, Status.DISPATCHED, dispatch_note))
    if opening.status is Status.PENDING:
        [note] = opening.notes
        return (_by_system(at, HistoryAction.CREATE, None, Status.PENDING, note),)
    raise ValueError(f"a ticket opens pending or dispatched, not {opening.status}")


def merge(status: Status, at: datetime, *, channel: str, report_id: str, distance_m: float,
          reason: str) -> Record:
    """A report about the same thing attached to an open ticket (`dispatch.merge` chose it): a record by the
    system that keeps the status and names the report and how far it was. Only open tickets take reports."""
    if status in FINAL_STATUSES:
        raise TransitionNotAllowed(f"a {status} ticket takes no more reports; the report opens its own ticket")
    return _by_system(at, HistoryAction.MERGE, status, status, reason, MappingProxyType({
        "channel": channel, "report_id": report_id, "distance_m": round(distance_m, 1)}))


def absorb(target: TicketState, source: Outcome, actor: Actor, now: datetime, *, reports: int) -> Outcome:
    """合并, the target's side: ticket `source` (its outcome of `apply` with `merge_into`) is merged into
    `target`, whose status stays; its line (the `merge` history action, by the operator) names the source and
    how many reports came. Refusals name the field `into`: a target out of the actor's scope, or final."""
    into = source.ticket.ticket_no
    if _party(target, actor) is None:
        raise InvalidCommand(f"ticket {target.ticket_no} is not in your scope",
                             fields={"into": "not a ticket you may act on"})
    if target.status in FINAL_STATUSES:
        raise InvalidCommand(f"ticket {target.ticket_no} is {target.status}: only an open ticket takes reports",
                             fields={"into": "the ticket is final (closed or rejected)"})
    if target.ticket_no == into:
        raise InvalidCommand("a ticket cannot be merged into itself", fields={"into": "the same ticket"})
    party = _party(target, actor)
    assert party is not None
    record = Record(at=now, actor=actor.name, role=str(actor.role), party=party, action=HistoryAction.MERGE,
                    from_status=target.status, to_status=target.status, note=merged_note("由", into, source.record.note),
                    data=MappingProxyType({"from_ticket": into, "reports": reports}))
    return Outcome(dataclasses.replace(target, version=target.version + 1), record)


def merged_note(word: str, ticket_no: str, note: str | None) -> str:
    """The history note of a 合并 on either side: "合并至 B" on the duplicate, "由 A 合并" on the target, with the
    operator's reason after it when one was given."""
    said = f"合并至 {ticket_no}" if word == "至" else f"由 {ticket_no} 合并"
    return f"{said}：{note}" if note else said


def allowed_actions(ticket: TicketState, actor: Actor) -> tuple[Action, ...]:
    """What this actor may do to this ticket now (table and guards; not the command's own fields).
    Empty when the ticket is out of the actor's scope. This is what the console offers as buttons."""
    party = _party(ticket, actor)
    if party is None:
        return ()
    return tuple(a for a in actions_for(ticket.status, party) if guard(ticket, a, party, actor) is None)


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
    refusal = guard(ticket, action, party, actor)
    if refusal is not None:
        refusal.allowed = _names(allowed_actions(ticket, actor))
        raise refusal
    validate(ticket, command, action, party)
    target = ticket.suspended_from if row.target is PREVIOUS else row.target
    assert isinstance(target, Status)
    changed, data = EFFECTS[action](ticket, command, party, actor, now)
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

"""拆分: an operator takes a wrongly merged report out of a ticket into a ticket of its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from application.envelope import validate_envelope
from application.opening import open_prepared, prepare_ticket
from application.routing import RoutingContext
from dispatch.actors import Actor
from dispatch.lifecycle import Command, apply
from dispatch.numbers import ticket_number
from store.loop import LoopContext, save
from store.loop import load as load_ticket
from store.tickets import TicketToWrite, allocate_sequence, insert_tickets, report_taken_out, reports_of


class SplitRefused(ValueError):
    """The report named for a split is not one of this ticket's, or is its only report."""


def split_out(conn: Connection, ticket_no: str, report: tuple[str, str], command: Command, actor: Actor,
              ctx: RoutingContext, loop: LoopContext, *, now: datetime, timezone: str, ticket_prefix: str) -> str:
    """拆分: an operator takes a wrongly merged report out of a ticket into a ticket of its own, routed and
    opened as if it had just arrived. Both tickets get a history entry and an event; returns the new number."""
    loaded = load_ticket(conn, ticket_no)
    if loaded is None:
        raise LookupError(ticket_no)
    # Scope, role, version and state first, as for every other action: someone who may not act on the ticket
    # learns nothing about its reports.
    outcome = apply(loaded.state, command, actor, now)
    rows = reports_of(conn, loaded.id)
    chosen = next((r for r in rows if (r.channel, r.report_id) == report), None)
    if chosen is None:
        raise SplitRefused(f"report {report[0]}/{report[1]} is not merged into ticket {ticket_no}")
    if len(rows) < 2:
        raise SplitRefused(f"report {report[0]}/{report[1]} is the ticket's only report; nothing to split")
    report_taken_out(conn, loaded.id)
    outcome = replace(outcome, record=replace(outcome.record, data={
        **dict(outcome.record.data), "channel": chosen.channel, "report_id": chosen.report_id}))
    save(conn, loaded, outcome, loop, now)
    day = now.astimezone(ZoneInfo(timezone)).date()
    new_no = ticket_number(ticket_prefix, day, allocate_sequence(conn, day, 1))
    ticket = open_prepared(new_no, prepare_ticket(validate_envelope(chosen.envelope), ctx), loop, now)
    insert_tickets(conn, [TicketToWrite(new_no, ticket, (chosen.id,))], now, loop.events_topic)
    return new_no

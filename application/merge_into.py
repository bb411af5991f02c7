"""合并: an operator merges a duplicate ticket into another open ticket. The duplicate's reports move to the
target, the duplicate ends 不予立案 with the note "合并至 <target>", the target keeps its status and gets a line
naming the duplicate; both get an event. One transaction; both tickets locked in id order first, so two
operators merging A→B and B→A at once cannot deadlock: the second waits, then finds a version that moved (409)
or a final target (422)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.engine import Connection

from dispatch.actors import Actor
from dispatch.errors import InvalidCommand
from dispatch.lifecycle import Command, absorb, apply, merged_note
from store.loop import LoopContext, load, save
from store.tickets import lock_pair, move_reports


def merge_into(conn: Connection, ticket_no: str, command: Command, actor: Actor, loop: LoopContext, *,
               now: datetime) -> str | None:
    """Merge `ticket_no` into `command.into` in the caller's transaction; returns the target's number, None
    when `ticket_no` does not exist. Raises DispatchError (scope, version, role, state; `into` named when
    missing, the same ticket, unknown, out of scope or final) before anything is written."""
    into = (command.into or "").strip()
    lock_pair(conn, ticket_no, into)
    source = load(conn, ticket_no)
    if source is None:
        return None
    outcome = apply(source.state, replace(command, into=into), actor, now)  # scope, version, role, state, `into`
    target = load(conn, into)
    if target is None:
        raise InvalidCommand(f"no ticket {into}", fields={"into": "no such ticket"})
    moved = move_reports(conn, source.id, target.id)
    gained = absorb(target.state, outcome, actor, now, reports=moved)
    note = (command.note or "").strip() or None
    outcome = replace(outcome, record=replace(outcome.record, note=merged_note("至", into, note),
                                              data={**dict(outcome.record.data), "reports": moved}))
    gained = replace(gained, record=replace(gained.record, note=merged_note("由", ticket_no, note)))
    save(conn, source, outcome, loop, now)
    save(conn, target, gained, loop, now)
    return into

"""Act on a ticket: one person's command, applied by the domain and saved with its history entry and event."""
from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from dispatch.actors import Actor
from dispatch.lifecycle import Command, TicketState, allowed_actions, apply
from store.loop import LoopContext, load, save


def act(engine: Engine, ticket_no: str, command: Command, actor: Actor, now: datetime,
        ctx: LoopContext, attachments: list[dict] | None = None) -> TicketState | None:
    """One person's action on one ticket; None when there is no such ticket. Raises DispatchError.
    `attachments` (photos of the handling or the verification) are kept in the history entry."""
    with engine.begin() as conn:
        return act_in(conn, ticket_no, command, actor, now, ctx, attachments)


def act_in(conn: Connection, ticket_no: str, command: Command, actor: Actor, now: datetime,
           ctx: LoopContext, attachments: list[dict] | None = None) -> TicketState | None:
    """`act` in the caller's transaction (`yunguan simulate --history` runs many actions per simulated step).
    A refusal (DispatchError) is raised before anything is written."""
    loaded = load(conn, ticket_no)
    if loaded is None:
        return None
    outcome = apply(loaded.state, command, actor, now)
    if attachments:
        outcome = dataclasses.replace(outcome, record=dataclasses.replace(
            outcome.record, data={**dict(outcome.record.data), "attachments": attachments}))
    save(conn, loaded, outcome, ctx, now)
    return outcome.ticket


def actions_for(conn: Connection, ticket_no: str, actor: Actor) -> list[str] | None:
    loaded = load(conn, ticket_no)
    return None if loaded is None else [str(a) for a in allowed_actions(loaded.state, actor)]

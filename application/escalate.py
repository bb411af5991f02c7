"""The deadline pass: warn, escalate and resume every ticket a unit holds, as of an instant."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from dispatch.actors import SYSTEM
from dispatch.errors import StaleVersion
from dispatch.escalation import escalation_pass
from dispatch.lifecycle import apply
from store.loop import (
    Loaded,
    LoopContext,
    history_head,
    read_only,
    save,
    set_light,
    try_escalation_lock,
    with_unit,
)


@dataclass(frozen=True)
class PassResult:
    ran: bool  # False: another process holds the escalation lock
    applied: list[dict]  # with dry_run: what would be applied
    skipped: int
    relit: int = 0  # tickets whose deadline light changed (or would change) with time alone


def escalation_run(engine: Engine, ctx_of: Callable[[Connection], LoopContext], now: datetime, *,
                   dry_run: bool = False, only: list[str] | None = None) -> PassResult:
    """Warn, escalate and resume as of `now`, under a transaction-scoped advisory lock so that only one
    process runs the pass at a time. Each decision is an ordinary command by `system`, so it leaves a
    history entry and an event like any other change; a ticket changed meanwhile is skipped (next pass).

    `dry_run`: decide the same way and return what would change, in a READ ONLY transaction (PostgreSQL
    refuses any write in it, so a dry run cannot leave history, ticket updates or outbox rows behind; it
    needs no lock either).

    `only`: look at these tickets alone (`yunguan simulate --history` knows when each ticket's clocks next
    need the pass and runs it for those, as of that instant; a live pass looks at every ticket)."""
    applied: list[dict] = []
    skipped = relit = 0
    with engine.begin() as conn:
        if dry_run:
            read_only(conn)
        elif not try_escalation_lock(conn):
            return PassResult(False, [], 0)
        ctx = ctx_of(conn)
        held = with_unit(conn, only)
        current = {loaded.state.ticket_no: loaded for loaded, _ in held}
        lights = {loaded.state.ticket_no: light for loaded, light in held}
        dues = escalation_pass([loaded.state for loaded in current.values()], ctx.limits, ctx.working, now,
                               lambda unit: ctx.unit_levels.get(unit))
        for due in dues:
            loaded = current[due.ticket_no]
            try:
                outcome = apply(loaded.state, due.command(loaded.state.version), SYSTEM, now)
                if dry_run:
                    head = loaded.history_head
                else:
                    with conn.begin_nested():
                        save(conn, loaded, outcome, ctx, now)
                    head = history_head(conn, loaded.id)
            except StaleVersion:
                skipped += 1
                continue
            current[due.ticket_no] = Loaded(loaded.id, outcome.ticket, head)
            applied.append({"ticket_no": due.ticket_no, "action": str(outcome.record.action),
                            "status": str(outcome.ticket.status), "level": outcome.ticket.escalation_level,
                            "note": outcome.record.note})
        # Lights change with time alone: keep the column the console filters on current.
        for no, loaded in current.items():
            clocks = ctx.clocks(loaded.state, now)
            light = str(clocks.light) if clocks.light else None
            if light == lights[no]:
                continue
            relit += 1
            if not dry_run:
                set_light(conn, loaded.id, clocks.deadline, light)
    return PassResult(True, applied, skipped, relit)

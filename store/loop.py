"""The closed loop around the database: load a ticket's loop state, apply a command with `dispatch`, and
save the new state, its history entry (hash-chained) and its event in one transaction.

Optimistic concurrency: the UPDATE carries `WHERE version = :seen`, so of two clicks on the same version
exactly one wins and the other gets 409 — no row locks held while a person thinks.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine

from dispatch import snapshot
from dispatch.audit import verify_chain
from dispatch.deadlines import ClockSummary, Due, Limits, in_force, limits_for, moved, rule_for, summarize
from dispatch.errors import StaleVersion
from dispatch.intake import classified
from dispatch.kpi import Facts, facts
from dispatch.lifecycle import Outcome, Priority, TicketState, opened
from dispatch.model import FINAL_STATUSES, Status
from dispatch.taxonomy import Taxonomy
from dispatch.vocabulary import WITH_UNIT_STATUSES
from dispatch.worktime import WorkingTime
from store import history, kpi
from store.events import publish_event
from store.locks import ESCALATION_LOCK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopContext:
    """What deciding on tickets needs besides the ticket: the taxonomy's limits, the calendar, unit levels."""

    taxonomy: Taxonomy
    working: WorkingTime
    unit_levels: dict[str, str]
    events_topic: str

    def limits(self, ticket: TicketState) -> Limits | None:
        category = self.taxonomy.get(ticket.category)
        if category is None or not category.is_subclass or category.ack_limit_h is None:
            return None
        return limits_for(category, ticket.priority)

    def clocks(self, ticket: TicketState, now: datetime) -> ClockSummary:
        return summarize(ticket, self.limits(ticket), self.working, now)

    def due(self, ticket: TicketState) -> Due:
        """The deadlines in force (running clocks), as the ticket's detail and its history show them."""
        limits = self.limits(ticket)
        return in_force(ticket, limits, rule_for(limits, self.working) if limits else self.working)

    def facts(self, ticket: TicketState, due: Due | None = None) -> Facts:
        """The ticket's evaluation facts (dispatch.kpi), counted in its own time rule."""
        limits = self.limits(ticket)
        return facts(ticket, limits, rule_for(limits, self.working) if limits else self.working, due)


def load_context(conn: Connection, working: WorkingTime, events_topic: str) -> LoopContext:
    from store.categories import load_taxonomy

    levels = dict(conn.execute(text("SELECT code, level FROM units")).all())
    return LoopContext(load_taxonomy(conn), working, levels, events_topic)


@dataclass(frozen=True)
class Loaded:
    id: int
    state: TicketState
    history_head: str | None


_LOAD = (
    "SELECT id, ticket_no, status, version, loop, category, priority, grid_code, assignee_code, created_at, "
    "history_head, deadline_state FROM tickets "
)


def _state(row) -> TicketState:
    """The loop state; its status and version always come from the columns (a merge bumps the version
    without rewriting the loop). Tickets written before the loop existed get their opening state."""
    if row.loop:
        state = snapshot.load(row.loop)
    else:
        state = opened(row.ticket_no, Status(row.status), row.created_at, category=row.category,
                       grid=row.grid_code, assignee=row.assignee_code if row.status == "dispatched" else None,
                       priority=Priority(row.priority))
    return dataclasses.replace(state, status=Status(row.status), version=row.version)


def load(conn: Connection, ticket_no: str) -> Loaded | None:
    row = conn.execute(text(_LOAD + "WHERE ticket_no = :no"), {"no": ticket_no}).first()
    return None if row is None else Loaded(row.id, _state(row), row.history_head)


def responsible_unit(state: TicketState) -> str | None:
    """The unit a ticket is with: the running turn's unit, or after handling the unit that handled it."""
    if state.lead:
        return state.lead
    if state.assignments and state.status in (Status.HANDLED, Status.VERIFIED, Status.CLOSED):
        return state.assignments[-1].unit
    return None


_UPDATE = text(
    "UPDATE tickets SET status = :status, version = :version, loop = :loop, category = :category, "
    "priority = :priority, "
    "assignee_code = CASE WHEN CAST(:keep_suggestion AS boolean) THEN assignee_code ELSE :assignee END, assist_codes = CAST(:assists AS varchar(32)[]), "
    "deadline = :deadline, deadline_state = :light, escalation_level = :escalation, updated_at = :now, "
    "closed_at = CASE WHEN CAST(:closing AS boolean) THEN CAST(:now AS timestamptz) ELSE closed_at END, "
    "history_head = :head WHERE id = :id AND version = :seen"
).bindparams(bindparam("loop", type_=JSONB))

def append_history(conn: Connection, ticket_id: int, ticket_no: str, prev: str | None, *, at: datetime, actor: str,
                   role: str, party: str | None, action: str, from_status: str | None, to_status: str,
                   note: str | None, data: dict | None) -> str:
    """Write one history entry chained to `prev` (store.history); return its hash (the ticket's new head)."""
    [row] = history.chain(ticket_id, ticket_no, prev, [history.Entry(at, actor, role, party, action, from_status,
                                                                      to_status, note, data)])
    history.append(conn, [row])
    return row.hash


def save(conn: Connection, loaded: Loaded, outcome: Outcome, ctx: LoopContext, now: datetime, *,
         suggested: str | None = None) -> None:
    """Persist an outcome of `dispatch.lifecycle.apply`: state, history entry and event, or StaleVersion.
    A ticket classified into an urgent 小类 (立案 of a pending report) becomes urgent here, where the
    taxonomy is known. `suggested`: the unit routing suggests, shown as the assignee while no unit holds the
    ticket (定位 of a pending ticket). A ticket no unit has held yet keeps the unit routing suggested at
    its opening (or 定位) through the operators' steps before the dispatch (受理, 立案), until it is final."""
    new, rec = classified(outcome.ticket, ctx.taxonomy.get(outcome.ticket.category)), outcome.record
    clocks = ctx.clocks(new, now)
    due = ctx.due(new)  # an entry that sets or moves a deadline carries it (contract §8)
    rec = dataclasses.replace(rec, data={**rec.data, **moved(ctx.due(loaded.state), due)})
    [entry] = history.chain(loaded.id, new.ticket_no, loaded.history_head, [history.entry(rec)])
    head = entry.hash
    result = conn.execute(_UPDATE, {
        "status": str(new.status), "version": new.version, "loop": snapshot.dump(new), "category": new.category,
        "priority": str(new.priority), "assignee": responsible_unit(new) or suggested,
        "keep_suggestion": suggested is None and not new.assignments and new.status not in FINAL_STATUSES,
        "assists": list(new.assist_units),
        "deadline": clocks.deadline, "light": str(clocks.light) if clocks.light else None,
        "escalation": new.escalation_level, "now": now, "head": head, "id": loaded.id,
        "closing": new.status is Status.CLOSED,
        "seen": loaded.state.version,
    })
    if result.rowcount != 1:
        current = conn.execute(text("SELECT version FROM tickets WHERE id = :id"), {"id": loaded.id}).scalar_one()
        raise StaleVersion(current, loaded.state.version)
    history.append(conn, [entry])
    kpi.write(conn, [(loaded.id, ctx.facts(new, due), None)])  # the evaluation's facts, in the same transaction
    publish_event(conn, loaded.id, str(rec.action), now, rec.actor, ctx.events_topic)


def verify_history(conn: Connection) -> list:
    """Every ticket whose history chain is broken, with the first bad entry and why (one pass, in order)."""
    heads = {r.id: (r.ticket_no, r.history_head) for r in conn.execute(
        text("SELECT id, ticket_no, history_head FROM tickets"))}
    entries: dict[int, list] = {tid: [] for tid in heads}
    for e in conn.execute(text(
            "SELECT ticket_id, id, at, actor, role, party, action, from_status, to_status, note, data, prev_hash, hash "
            "FROM ticket_history ORDER BY ticket_id, id")).mappings():
        entries.setdefault(e["ticket_id"], []).append(e)
    broken = []
    for tid, rows in entries.items():
        ticket_no, head = heads.get(tid, (f"(ticket id {tid})", None))
        problem = verify_chain(ticket_no, head, rows)
        if problem is not None:
            broken.append(problem)
    return broken


@dataclass
class LoopContextCache:
    """The taxonomy and unit levels change rarely (a `yunguan categories load`); re-read them at most every
    `ttl_s` seconds rather than per batch or per request."""

    engine: Engine
    working: WorkingTime
    events_topic: str
    ttl_s: float = 30.0
    _ctx: LoopContext | None = None
    _loaded_at: float = 0.0

    def __call__(self, conn: Connection | None = None) -> LoopContext:
        import time

        if self._ctx is None or time.monotonic() - self._loaded_at > self.ttl_s:
            if conn is not None:
                self._ctx = load_context(conn, self.working, self.events_topic)
            else:
                with self.engine.connect() as own:
                    self._ctx = load_context(own, self.working, self.events_topic)
            self._loaded_at = time.monotonic()
        return self._ctx


def with_unit(conn: Connection, only: list[str] | None = None) -> list[tuple[Loaded, str | None]]:
    """Every ticket a unit holds (the escalation pass's population), with its stored deadline light;
    `only`: of these ticket numbers."""
    # Two statements, not `(:only IS NULL OR ticket_no = ANY(:only))`: that form's plan can use no index, so
    # a pass over a few tickets read the whole table.
    where = "WHERE status = ANY(:with_unit) " + ("AND ticket_no = ANY(:only) " if only is not None else "")
    rows = conn.execute(text(_LOAD + where + "ORDER BY id"),
                        {"with_unit": list(WITH_UNIT_STATUSES), **({"only": only} if only is not None else {})}).all()
    return [(Loaded(row.id, _state(row), row.history_head), row.deadline_state) for row in rows]


def created_between(conn: Connection, since: datetime, until: datetime) -> list[TicketState]:
    """The loop states of the tickets created in [since, until)."""
    rows = conn.execute(text(_LOAD + "WHERE created_at >= :since AND created_at < :until AND loop IS NOT NULL"),
                        {"since": since, "until": until}).all()
    return [_state(row) for row in rows]


def history_head(conn: Connection, ticket_id: int) -> str | None:
    return conn.execute(text("SELECT history_head FROM tickets WHERE id = :id"), {"id": ticket_id}).scalar_one()


def set_light(conn: Connection, ticket_id: int, deadline: datetime | None, light: str | None) -> None:
    """Keep the deadline columns the console filters on current (lights change with time alone)."""
    conn.execute(text("UPDATE tickets SET deadline = :d, deadline_state = :l WHERE id = :id "
                      "AND deadline_state IS DISTINCT FROM :l"), {"d": deadline, "l": light, "id": ticket_id})


def try_escalation_lock(conn: Connection) -> bool:
    """The transaction-scoped lock that lets one process at a time run the escalation pass."""
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ESCALATION_LOCK}).scalar_one())


def read_only(conn: Connection) -> None:
    """PostgreSQL refuses every write in the rest of this transaction (dry runs)."""
    conn.execute(text("SET TRANSACTION READ ONLY"))


def unit_names(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(text("SELECT code, name FROM units")).all())

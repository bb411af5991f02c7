"""The closed loop around the database: load a ticket's loop state, apply a command with `dispatch`, and
save the new state, its history entry (hash-chained) and its event in one transaction.

Optimistic concurrency: the UPDATE carries `WHERE version = :seen`, so of two clicks on the same version
exactly one wins and the other gets 409 — no row locks held while a person thinks.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine

from dispatch import snapshot
from dispatch.actors import SYSTEM, Actor
from dispatch.audit import entry_hash, verify_chain
from dispatch.deadlines import ClockSummary, Limits, limits_for, summarize
from dispatch.errors import StaleVersion
from dispatch.escalation import escalation_pass
from dispatch.intake import classified
from dispatch.lifecycle import Command, Outcome, Priority, TicketState, allowed_actions, apply, opened
from dispatch.model import Status
from dispatch.taxonomy import Taxonomy
from dispatch.vocabulary import WITH_UNIT_STATUSES
from dispatch.worktime import WorkingTime
from store.locks import ESCALATION_LOCK
from store.tickets import EVENT_SCHEMA

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
    "priority = :priority, assignee_code = :assignee, assist_codes = CAST(:assists AS varchar(32)[]), "
    "deadline = :deadline, deadline_state = :light, escalation_level = :escalation, updated_at = :now, "
    "closed_at = CASE WHEN CAST(:closing AS boolean) THEN CAST(:now AS timestamptz) ELSE closed_at END, "
    "history_head = :head WHERE id = :id AND version = :seen"
).bindparams(bindparam("loop", type_=JSONB))

_HISTORY = text(
    "INSERT INTO ticket_history (ticket_id, at, actor, role, party, action, from_status, to_status, note, data, "
    "prev_hash, hash) VALUES (:ticket_id, :at, :actor, :role, :party, :action, :from_status, :to_status, :note, "
    ":data, :prev_hash, :hash)"
).bindparams(bindparam("data", type_=JSONB))


def append_history(conn: Connection, ticket_id: int, ticket_no: str, prev: str | None, *, at: datetime, actor: str,
                   role: str, party: str | None, action: str, from_status: str | None, to_status: str,
                   note: str | None, data: dict | None) -> str:
    """Write one history entry chained to `prev`; return its hash (the ticket's new head)."""
    digest = entry_hash(prev, ticket_no, at, actor, role, party, action, from_status, to_status, note, data)
    conn.execute(_HISTORY, {
        "ticket_id": ticket_id, "at": at, "actor": actor, "role": role, "party": party, "action": action,
        "from_status": from_status, "to_status": to_status, "note": note, "data": data or None,
        "prev_hash": prev, "hash": digest,
    })
    return digest


def save(conn: Connection, loaded: Loaded, outcome: Outcome, ctx: LoopContext, now: datetime) -> None:
    """Persist an outcome of `dispatch.lifecycle.apply`: state, history entry and event, or StaleVersion.
    A ticket classified into an urgent 小类 (立案 of a pending report) becomes urgent here, where the
    taxonomy is known."""
    new, rec = classified(outcome.ticket, ctx.taxonomy.get(outcome.ticket.category)), outcome.record
    clocks = ctx.clocks(new, now)
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(rec.data).items()}
    head = entry_hash(loaded.history_head, new.ticket_no, rec.at, rec.actor, rec.role, str(rec.party),
                      str(rec.action), str(rec.from_status) if rec.from_status else None, str(rec.to_status),
                      rec.note, data)
    result = conn.execute(_UPDATE, {
        "status": str(new.status), "version": new.version, "loop": snapshot.dump(new), "category": new.category,
        "priority": str(new.priority), "assignee": responsible_unit(new), "assists": list(new.assist_units),
        "deadline": clocks.deadline, "light": str(clocks.light) if clocks.light else None,
        "escalation": new.escalation_level, "now": now, "head": head, "id": loaded.id,
        "closing": new.status is Status.CLOSED,
        "seen": loaded.state.version,
    })
    if result.rowcount != 1:
        current = conn.execute(text("SELECT version FROM tickets WHERE id = :id"), {"id": loaded.id}).scalar_one()
        raise StaleVersion(current, loaded.state.version)
    written = append_history(
        conn, loaded.id, new.ticket_no, loaded.history_head, at=rec.at, actor=rec.actor, role=rec.role,
        party=str(rec.party), action=str(rec.action), from_status=str(rec.from_status) if rec.from_status else None,
        to_status=str(rec.to_status), note=rec.note, data=data,
    )
    assert written == head
    publish_event(conn, loaded.id, str(rec.action), now, rec.actor, ctx.events_topic)


_EVENTS = text(
    "INSERT INTO outbox (topic, key, payload) SELECT CAST(:topic AS text), t.ticket_no, jsonb_build_object("
    "'schema', CAST(:schema AS text), 'ticket_no', t.ticket_no, 'event', CAST(:event AS text), 'at', CAST(:at AS text), 'status', t.status, "
    "'version', t.version, 'category', t.category, "
    "'assignee', CASE WHEN u.code IS NULL THEN NULL ELSE jsonb_build_object('code', u.code, 'name', u.name, "
    "'level', u.level) END, 'area', t.area, "
    "'location', CASE WHEN t.location IS NULL THEN NULL ELSE jsonb_build_object('lon', ST_X(t.location), "
    "'lat', ST_Y(t.location)) END, "
    "'deadline', to_char(t.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), "
    "'escalation_level', t.escalation_level, 'actor', CAST(:actor AS text), 'deadline_state', t.deadline_state, "
    "'report_count', t.report_count, 'assists', to_jsonb(t.assist_codes), "
    "'border_check', coalesce((t.loop->>'border_check')::boolean, false), 'priority', t.priority) "
    "FROM tickets t LEFT JOIN units u ON u.code = t.assignee_code WHERE t.id = ANY(:ids) ORDER BY t.id"
)


def publish_events(conn: Connection, ticket_ids: list[int], event: str, at: datetime, actor: str, topic: str) -> None:
    """Queue ticket event v1 for these tickets as they now are, in the caller's transaction (the outbox);
    one statement however many tickets, the payload built by the database from the committed row."""
    if ticket_ids:
        conn.execute(_EVENTS, {"topic": topic, "schema": EVENT_SCHEMA, "event": event, "at": at.isoformat(),
                               "actor": actor, "ids": list(ticket_ids)})


def publish_event(conn: Connection, ticket_id: int, event: str, at: datetime, actor: str, topic: str) -> None:
    publish_events(conn, [ticket_id], event, at, actor, topic)


def act(engine: Engine, ticket_no: str, command: Command, actor: Actor, now: datetime,
        ctx: LoopContext, attachments: list[dict] | None = None) -> TicketState | None:
    """One person's action on one ticket; None when there is no such ticket. Raises DispatchError.
    `attachments` (photos of the handling or the verification) are kept in the history entry."""
    with engine.begin() as conn:
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


@dataclass(frozen=True)
class PassResult:
    ran: bool  # False: another process holds the escalation lock
    applied: list[dict]  # with dry_run: what would be applied
    skipped: int
    relit: int = 0  # tickets whose deadline light changed (or would change) with time alone


def escalation_run(engine: Engine, ctx_of: Callable[[Connection], LoopContext], now: datetime, *,
                   dry_run: bool = False) -> PassResult:
    """Warn, escalate and resume as of `now`, under a transaction-scoped advisory lock so that only one
    process runs the pass at a time. Each decision is an ordinary command by `system`, so it leaves a
    history entry and an event like any other change; a ticket changed meanwhile is skipped (next pass).

    `dry_run`: decide the same way and return what would change, in a READ ONLY transaction (PostgreSQL
    refuses any write in it, so a dry run cannot leave history, ticket updates or outbox rows behind; it
    needs no lock either)."""
    applied: list[dict] = []
    skipped = relit = 0
    with engine.begin() as conn:
        if dry_run:
            conn.execute(text("SET TRANSACTION READ ONLY"))
        elif not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ESCALATION_LOCK}).scalar_one():
            return PassResult(False, [], 0)
        ctx = ctx_of(conn)
        rows = conn.execute(text(
            _LOAD + "WHERE status = ANY(:with_unit) ORDER BY id"), {"with_unit": list(WITH_UNIT_STATUSES)}).all()
        current = {row.ticket_no: Loaded(row.id, _state(row), row.history_head) for row in rows}
        lights = {row.ticket_no: row.deadline_state for row in rows}
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
                    head = conn.execute(text("SELECT history_head FROM tickets WHERE id = :id"),
                                        {"id": loaded.id}).scalar_one()
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
                conn.execute(text("UPDATE tickets SET deadline = :d, deadline_state = :l WHERE id = :id "
                                  "AND deadline_state IS DISTINCT FROM :l"),
                             {"d": clocks.deadline, "l": light, "id": loaded.id})
    return PassResult(True, applied, skipped, relit)


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


def evaluation(conn: Connection, ctx: LoopContext, since: datetime, until: datetime, now: datetime) -> list[dict]:
    """考核: the department table for tickets created in [since, until), as of `now`, ranked."""
    from dispatch.deadlines import rule_for
    from dispatch.evaluation import evaluate, ticket_facts

    rows = conn.execute(text(_LOAD + "WHERE created_at >= :since AND created_at < :until AND loop IS NOT NULL"),
                        {"since": since, "until": until}).all()
    facts = []
    for row in rows:
        state = _state(row)
        limits = ctx.limits(state)
        if limits is not None:
            facts.append(ticket_facts(state, limits, rule_for(limits, ctx.working), now))
    names = dict(conn.execute(text("SELECT code, name FROM units")).all())
    out = []
    for s in evaluate(facts):
        d = dataclasses.asdict(s)
        d["dispute_hours"] = round(d.pop("dispute").total_seconds() / 3600, 2)
        d["name"] = names.get(s.unit)
        out.append(d)
    return out

"""The data exchange's SQL (docs/exchange.md): the changes a push reads, the cases it sends, its cursor and its
record of attempts.

Positions are (xid, ticket_id) pairs: `xid` is the 64-bit id of the transaction that changed the ticket
(written by the triggers of migration 0017). Only changes below the *horizon* — the oldest transaction still
running when the push looked (the snapshot's in-progress list) — are read: every transaction below it has ended, and every
transaction that has not will get an id at or above it, so no change can appear behind a position once read.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Horizon:
    below: int  # every change with a smaller xid is final
    next_xid: int  # no transaction has an id this high yet: a cursor above it is invalid


# Transaction ids are the cluster's, not the database's: a long write in another database of the same server
# would hold the horizon back. Running transactions that pg_stat_activity positively places in another database,
# or in an autovacuum worker (its ANALYZE takes an id, and never writes a ticket), are therefore left out;
# anything it does not show (another user's session without pg_read_all_stats, a prepared transaction) still
# counts, so the refinement can only ever be too careful, never lose a change.
_HORIZON = text(
    "SELECT pg_snapshot_xmax(s)::text::bigint AS next_xid, "
    "(SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x WHERE x::text::bigint % 4294967296 NOT IN ("
    "  SELECT a.backend_xid::text::bigint FROM pg_stat_activity a "
    "  WHERE a.backend_xid IS NOT NULL AND (a.datname <> current_database() "
    "  OR a.backend_type = 'autovacuum worker'))) AS oldest "
    "FROM pg_current_snapshot() AS s")


def horizon(conn: Connection) -> Horizon:
    row = conn.execute(_HORIZON).one()
    return Horizon(row.oldest if row.oldest is not None else row.next_xid, row.next_xid)


_NEXT = text(
    "SELECT c.xid, c.ticket_id FROM exchange_changes c "
    "WHERE (c.xid, c.ticket_id) > (:xid, :ticket) AND c.xid < :below "
    "AND NOT EXISTS (SELECT 1 FROM exchange_changes later WHERE later.ticket_id = c.ticket_id "
    "  AND later.xid > c.xid AND later.xid < :below) "
    "ORDER BY c.xid, c.ticket_id LIMIT :limit")


def next_changes(conn: Connection, after: tuple[int, int], below: int, limit: int) -> list[tuple[int, int]]:
    """The next `limit` changes after position `after` and below the horizon, in position order, each ticket
    only at its last change below the horizon (a ticket changed twice is read once, at the second change)."""
    rows = conn.execute(_NEXT, {"xid": after[0], "ticket": after[1], "below": below, "limit": limit}).all()
    return [(r.xid, r.ticket_id) for r in rows]


def pending(conn: Connection, after: tuple[int, int], below: int) -> int:
    """How many cases a push would send now (distinct tickets changed after `after`, below the horizon)."""
    return conn.execute(text(
        "SELECT count(DISTINCT ticket_id) FROM exchange_changes WHERE (xid, ticket_id) > (:xid, :ticket) "
        "AND xid < :below"), {"xid": after[0], "ticket": after[1], "below": below}).scalar_one()


# Everything a case shows, for a set of tickets, in one statement. The reporters' contacts sit in
# reports.envelope and are never selected here: personal data cannot leave by accident.
_CASES = text("""
SELECT t.id, t.ticket_no, t.status, t.version, t.category, t.description, t.address, t.area, t.priority,
       t.deadline, t.deadline_state, t.escalation_level, t.report_count, t.assist_codes, t.created_at,
       t.updated_at, t.closed_at,
       CASE WHEN t.location IS NULL THEN NULL ELSE ST_X(t.location) END AS lon,
       CASE WHEN t.location IS NULL THEN NULL ELSE ST_Y(t.location) END AS lat,
       u.code AS unit_code, u.name AS unit_name,
       c.name AS category_name, c.kind AS category_kind, p.code AS major_code, p.name AS major_name,
       r.channel, r.reported_at,
       h.registered_at, h.dispatched_at, h.acknowledged_at, h.handled_at, h.verified_at, h.closed_at AS close_at,
       h.rejected_at, h.returns, h.merged_into,
       k.ack_due, coalesce(k.handle_due, k.handled_due) AS handle_due, coalesce(k.handled_late, false) AS handled_late
FROM tickets t
LEFT JOIN units u ON u.code = t.assignee_code
LEFT JOIN categories c ON c.code = t.category
LEFT JOIN categories p ON p.code = c.parent
LEFT JOIN ticket_kpi k ON k.ticket_id = t.id
LEFT JOIN LATERAL (
    SELECT (array_agg(r.channel ORDER BY r.id))[1] AS channel, min(r.reported_at) AS reported_at
    FROM reports r WHERE r.ticket_id = t.id) r ON true
LEFT JOIN LATERAL (
    SELECT min(x.at) FILTER (WHERE x.action = 'register') AS registered_at,
           min(x.at) FILTER (WHERE x.action = 'dispatch') AS dispatched_at,
           max(x.at) FILTER (WHERE x.action = 'acknowledge') AS acknowledged_at,
           max(x.at) FILTER (WHERE x.action = 'handle') AS handled_at,
           max(x.at) FILTER (WHERE x.action = 'verify') AS verified_at,
           max(x.at) FILTER (WHERE x.action = 'close') AS closed_at,
           max(x.at) FILTER (WHERE x.to_status = 'rejected') AS rejected_at,
           count(*) FILTER (WHERE x.action = 'return') AS returns,
           (array_agg(x.data->>'into' ORDER BY x.id DESC) FILTER (WHERE x.action = 'merge_into'))[1] AS merged_into
    FROM ticket_history x WHERE x.ticket_id = t.id) h ON true
WHERE t.id = ANY(:ids)
""")


def cases(conn: Connection, ticket_ids: Sequence[int]) -> dict[int, dict]:
    """The rows of these tickets as `application.exchange.case_object` reads them, by ticket id."""
    if not ticket_ids:
        return {}
    return {r["id"]: dict(r) for r in conn.execute(_CASES, {"ids": list(ticket_ids)}).mappings()}


def compact(conn: Connection, below: int) -> int:
    """Drop each ticket's change rows older than its latest one below the horizon `below`; return how many.
    What a push sends is unchanged — it sends a ticket once, at its last change in the window, and "changed
    after a cursor" holds of a ticket exactly when its latest change does — so `--since` re-sends as before,
    while the log stays about one row per ticket instead of one per change.

    Only the changes since the last compaction are read (`exchange_cursor.compacted_below`): a row made
    redundant by a change before that mark was dropped then. Without a cursor row yet (nothing acknowledged)
    the whole log is read."""
    mark = conn.execute(text("SELECT compacted_below FROM exchange_cursor WHERE id = 1")).scalar() or 0
    if mark >= below:
        return 0
    dropped = conn.execute(text(
        "DELETE FROM exchange_changes c USING (SELECT ticket_id, max(xid) AS newest FROM exchange_changes "
        "WHERE xid >= :mark AND xid < :below GROUP BY ticket_id) l "
        "WHERE c.ticket_id = l.ticket_id AND c.xid < l.newest"), {"mark": mark, "below": below}).rowcount
    conn.execute(text("UPDATE exchange_cursor SET compacted_below = greatest(compacted_below, :below) "
                      "WHERE id = 1"), {"below": below})
    return dropped


# --- the cursor ----------------------------------------------------------------------------------------------

def read_cursor(conn: Connection) -> tuple[tuple[int, int] | None, datetime | None]:
    """The acknowledged position and when it moved (None, None: nothing acknowledged yet)."""
    row = conn.execute(text("SELECT xid, ticket_id, updated_at FROM exchange_cursor WHERE id = 1")).first()
    return ((row.xid, row.ticket_id), row.updated_at) if row else (None, None)


def move_cursor(conn: Connection, expected: tuple[int, int] | None, new: tuple[int, int], at: datetime) -> bool:
    """Set the acknowledged position to `new` if it is still `expected` (what this push read when it began);
    False when another push moved it meanwhile (optimistic, as tickets' versions)."""
    if expected is None:
        return conn.execute(text(
            "INSERT INTO exchange_cursor (id, xid, ticket_id, updated_at) VALUES (1, :x, :t, :at) "
            "ON CONFLICT (id) DO NOTHING"), {"x": new[0], "t": new[1], "at": at}).rowcount == 1
    return conn.execute(text(
        "UPDATE exchange_cursor SET xid = :x, ticket_id = :t, updated_at = :at "
        "WHERE id = 1 AND xid = :ex AND ticket_id = :et"),
        {"x": new[0], "t": new[1], "at": at, "ex": expected[0], "et": expected[1]}).rowcount == 1


# --- the record of attempts ----------------------------------------------------------------------------------

def record_attempt(conn: Connection, *, run: str, at: datetime, endpoint: str, cursor_from: str,
                   cursor_to: str | None, cases: int, attempt: int, ok: bool, status_code: int | None,
                   error: str | None, duration_ms: int) -> None:
    conn.execute(text(
        "INSERT INTO exchange_pushes (run, at, endpoint, cursor_from, cursor_to, cases, attempt, ok, status_code, "
        "error, duration_ms) VALUES (:run, :at, :endpoint, :cf, :ct, :cases, :attempt, :ok, :code, :error, :ms)"),
        {"run": run, "at": at, "endpoint": endpoint, "cf": cursor_from, "ct": cursor_to, "cases": cases,
         "attempt": attempt, "ok": ok, "code": status_code, "error": error, "ms": duration_ms})


_ATTEMPT_COLUMNS = "run, at, endpoint, cursor_from, cursor_to, cases, attempt, ok, status_code, error, duration_ms"


def last_attempt(conn: Connection, ok: bool) -> dict | None:
    row = conn.execute(text(f"SELECT {_ATTEMPT_COLUMNS} FROM exchange_pushes WHERE ok = :ok ORDER BY id DESC "
                            "LIMIT 1"), {"ok": ok}).mappings().first()
    return dict(row) if row else None


def attempts_since(conn: Connection, since: datetime) -> dict[str, int]:
    """Counts of the POSTs since `since`: ok, failed, and the cases acknowledged."""
    row = conn.execute(text(
        "SELECT count(*) FILTER (WHERE ok) AS ok, count(*) FILTER (WHERE NOT ok) AS failed, "
        "coalesce(sum(cases) FILTER (WHERE ok), 0) AS cases FROM exchange_pushes WHERE at >= :s"),
        {"s": since}).one()
    return {"ok": row.ok, "failed": row.failed, "cases": int(row.cases)}

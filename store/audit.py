"""The history's anchor outside the database: signed checkpoints appended to a file, and the reads behind
them and behind `yunguan audit verify` (what a checkpoint is, and the checks, are in dispatch/audit.py).

Someone who can write the database can recompute a chain; they cannot recompute a checkpoint without the
audit key, nor take back the lines already copied off the machine (docs/operations.md, "Audit").
"""
from __future__ import annotations

import fcntl
import itertools
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from config import Settings
from dispatch.audit import (
    Broken,
    Checkpoint,
    CheckpointLog,
    check_points,
    fold,
    next_checkpoint,
    read_checkpoints,
    recorded_points,
    verify_chain,
)
from store.keyfile import state_key
from store.locks import AUDIT_CHECKPOINT_LOCK

log = logging.getLogger(__name__)


def checkpoint_key(settings: Settings, create: bool = True) -> bytes:
    """`audit_key` (config derives it from secret_key when unset), else a random key kept beside the log in
    <state_dir>/audit/key, created by the first writer, readable by its owner only. A reader (`create`
    False) never makes one: without a key it gets b"", and every signature then fails to match."""
    if settings.audit_key:
        return settings.audit_key.encode()
    return (state_key(settings.state_path / "audit" / "key", create) or "").encode()


def read_log(path: Path, key: bytes, database: str) -> CheckpointLog:
    try:
        with open(path, encoding="utf-8") as f:
            return read_checkpoints(f, key, database)
    except FileNotFoundError:
        return CheckpointLog([], [])


def database_name(conn: Connection) -> str:
    return conn.execute(text("SELECT current_database()")).scalar_one()


def current_heads(conn: Connection) -> tuple[dict[str, tuple[int, str]], int]:
    """Each ticket's (entry count, head) and the number of history entries, in the caller's snapshot."""
    heads: dict[str, tuple[int, str]] = {}
    entries = 0
    for row in conn.execute(text(
            "SELECT t.ticket_no, t.history_head, count(h.id) AS n FROM tickets t "
            "LEFT JOIN ticket_history h ON h.ticket_id = t.id GROUP BY t.id")):
        heads[row.ticket_no] = (row.n, row.history_head or "")
        entries += row.n
    return heads, entries


def write_checkpoint(engine: Engine, settings: Settings, now: datetime, not_within_s: float = 0.0) -> Checkpoint | None:
    """Append one checkpoint to the log; None when another process is writing one, or when the database's
    latest checkpoint is less than `not_within_s` old (so several workers add one line per interval between
    them, not one each). The database is read in one REPEATABLE READ snapshot (a ticket's head and its entry
    count agree), under a transaction-scoped advisory lock held until the line is on disk, so two workers
    never write the same sequence number."""
    key = checkpoint_key(settings)
    path = settings.audit_checkpoints_path
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(text("SET TRANSACTION READ ONLY"))
            if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                {"k": AUDIT_CHECKPOINT_LOCK}).scalar_one():
                return None
            database = database_name(conn)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a+", encoding="utf-8") as f:
                fcntl.flock(f, fcntl.LOCK_EX)  # another database's writer may share the file
                f.seek(0)
                known = read_checkpoints(f, key, database)
                if known.last and datetime.fromisoformat(known.last.at) > now - timedelta(seconds=not_within_s):
                    return None
                current, entries = current_heads(conn)
                if known.problems:
                    log.error("audit: the checkpoint log %s has problems (run `yunguan audit verify`): %s",
                              path, "; ".join(known.problems))
                cp = next_checkpoint(key, known.last, fold(known.checkpoints), database, now, current, entries)
                f.write(cp.line() + "\n")
                f.flush()
                os.fsync(f.fileno())
    return cp


@dataclass(frozen=True)
class AuditReport:
    broken: list[Broken]
    log: CheckpointLog
    entries: int
    path: Path

    @property
    def ok(self) -> bool:
        return not self.broken and not self.log.problems


def verify(engine: Engine, settings: Settings, checkpoints: Path | None = None) -> AuditReport:
    """Every chain recomputed, and every head the log recorded required to be on its ticket's chain still
    (`checkpoints`: another copy of the log, e.g. the one kept off the machine)."""
    path = checkpoints or settings.audit_checkpoints_path
    key = checkpoint_key(settings, create=False)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            cp_log = read_log(path, key, database_name(conn))
            broken, entries = _verify_chains(conn, recorded_points(cp_log.checkpoints))
    return AuditReport(broken, cp_log, entries, path)


def _verify_chains(conn: Connection, points: dict[str, list[tuple[int, str, int]]]) -> tuple[list[Broken], int]:
    tickets = {r.id: (r.ticket_no, r.history_head) for r in conn.execute(
        text("SELECT id, ticket_no, history_head FROM tickets"))}
    present = {ticket_no for ticket_no, _ in tickets.values()}
    broken: list[Broken] = []
    entries = 0

    def check(ticket_no: str, head: str | None, rows: list) -> None:
        problem = verify_chain(ticket_no, head, rows)
        if problem is not None:
            broken.append(problem)
        wanted = points.get(ticket_no, ())
        at = {count: rows[count - 1]["hash"] for count, _, _ in wanted if 0 < count <= len(rows)}
        reason = check_points(ticket_no, len(rows), at, wanted)
        if reason is not None:
            broken.append(Broken(ticket_no, rows[-1]["id"] if rows else None, reason))

    stream = conn.execution_options(stream_results=True, yield_per=5000).execute(text(
        "SELECT ticket_id, id, at, actor, role, party, action, from_status, to_status, note, data, prev_hash, hash "
        "FROM ticket_history ORDER BY ticket_id, id")).mappings()
    for ticket_id, group in itertools.groupby(stream, key=lambda e: e["ticket_id"]):
        rows = list(group)
        entries += len(rows)
        ticket_no, head = tickets.pop(ticket_id, (f"(ticket id {ticket_id})", None))
        check(ticket_no, head, rows)
    for ticket_no, head in tickets.values():  # tickets without a single entry left
        check(ticket_no, head, [])
    for ticket_no, recorded in points.items():
        if ticket_no not in present:
            broken.append(Broken(ticket_no, None, f"ticket recorded by checkpoint #{recorded[0][2]} no longer "
                                                  "exists (deleted ticket)"))
    return broken, entries

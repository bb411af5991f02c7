"""Worker heartbeats: what each intake worker last said about its progress, and what an operator must know.

A worker process that is alive is not necessarily making progress: a consumer group that never forms leaves
every worker polling with no partitions while HTTP keeps answering 202. Each worker therefore writes, every few
seconds, the partitions it owns, its lag, and when it last committed; `intake_problems` turns those rows into
the sentences `yunguan status`, `/readyz` and the console show.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Beat:
    worker_id: str
    group_id: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    state: str  # starting | consuming | stuck | stopped
    reason: str | None
    partitions: list[dict]  # [{"topic", "partition", "position", "end", "lag"}]
    lag: int | None
    assigned_at: datetime | None
    committed_at: datetime | None
    stuck_since: datetime | None
    messages: int
    dead_letters: int


_COLUMNS = ("worker_id, group_id, host, pid, started_at, beat_at, state, reason, partitions, lag, assigned_at, "
            "committed_at, stuck_since, messages, dead_letters")

_UPSERT = text(
    f"INSERT INTO worker_heartbeats ({_COLUMNS}) VALUES (:worker_id, :group_id, :host, :pid, :started_at, "
    ":beat_at, :state, :reason, :partitions, :lag, :assigned_at, :committed_at, :stuck_since, :messages, "
    ":dead_letters) ON CONFLICT (worker_id) DO UPDATE SET beat_at = EXCLUDED.beat_at, state = EXCLUDED.state, "
    "reason = EXCLUDED.reason, partitions = EXCLUDED.partitions, lag = EXCLUDED.lag, "
    "assigned_at = EXCLUDED.assigned_at, committed_at = EXCLUDED.committed_at, "
    "stuck_since = EXCLUDED.stuck_since, messages = EXCLUDED.messages, dead_letters = EXCLUDED.dead_letters"
).bindparams(bindparam("partitions", type_=JSONB))


def record(conn: Connection, beat: Beat) -> None:
    conn.execute(_UPSERT, beat.__dict__)


def prune(conn: Connection, now: datetime, keep: timedelta = timedelta(days=7)) -> None:
    """Forget workers that last beat longer than `keep` ago (each worker does this once, when it starts)."""
    conn.execute(text("DELETE FROM worker_heartbeats WHERE beat_at < :cutoff"), {"cutoff": now - keep})


def recent(conn: Connection, group: str, now: datetime, within: timedelta = timedelta(hours=1)) -> list[Beat]:
    """The group's workers that beat within `within`, newest first."""
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM worker_heartbeats WHERE group_id = :g AND beat_at >= :since "
                             "ORDER BY beat_at DESC"), {"g": group, "since": now - within}).all()
    return [Beat(*row) for row in rows]


def live(beats: list[Beat], now: datetime, silent_after: timedelta) -> list[Beat]:
    return [b for b in beats if b.state != "stopped" and now - b.beat_at <= silent_after]


def intake_problems(beats: list[Beat], now: datetime, stuck_after: timedelta, heartbeat: timedelta) -> list[str]:
    """What stops intake, in sentences an operator can act on; empty while it flows.

    A worker is silent when its heartbeat is older than `stuck_after` (a crashed process, a loop blocked on the
    database); it is stuck when it said so itself (no partitions, or lag with no commit, for `stuck_after`)."""
    problems: list[str] = []
    silent_after = max(stuck_after, heartbeat * 3)
    alive = live(beats, now, silent_after)
    for b in beats:
        if b.state != "stopped" and b not in alive and now - b.beat_at <= silent_after * 4:
            problems.append(f"worker {b.worker_id} silent for {int((now - b.beat_at).total_seconds())} s "
                            "(crashed, or blocked)")
    if not alive:
        problems.append("no intake worker is running (start `yunguan worker`)")
        return problems
    for b in alive:
        if b.state == "stuck":
            problems.append(f"worker {b.worker_id} stuck: {b.reason}")
    if all(not b.partitions for b in alive) and not any(b.state == "stuck" for b in alive):
        waiting = min(now - (b.assigned_at or b.started_at) for b in alive)
        if waiting > stuck_after:
            problems.append(f"no worker owns a partition (for {int(waiting.total_seconds())} s)")
    return problems

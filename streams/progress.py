"""Progress, not just liveness: what a worker owns, how far behind it is, whether it moves, and saying so.

The worker's loop feeds this object (assignments, revocations, commits) and calls `beat` every loop; every
`heartbeat_s` it measures the lag of the owned partitions, decides whether the worker is stuck, logs an error
when it becomes stuck (and when it recovers), and writes the heartbeat row that `yunguan status`, `/readyz`
and the console read. Stuck means: no partition for `stuck_after_s`, or lag with no commit for `stuck_after_s`.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from store import heartbeats
from streams.metrics import WORKER_ASSIGNED, WORKER_LAG, WORKER_STUCK_SECONDS

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Progress:
    engine: Engine
    group: str
    heartbeat_s: float
    stuck_after_s: float
    worker_id: str = field(default_factory=new_worker_id)
    label: str = "worker"  # how log lines name this member: worker, lifeline consumer, notify consumer
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    assigned: frozenset = frozenset()
    assigned_at: datetime | None = None
    changed_mono: float = field(default_factory=time.monotonic)  # last assignment change (or start)
    committed_at: datetime | None = None
    committed_mono: float | None = None
    partitions: list = field(default_factory=list)
    stuck_reason: str | None = None
    stuck_since: datetime | None = None
    _next_beat: float = 0.0
    _pruned: bool = False

    # -- fed by the worker loop -------------------------------------------------------------------------
    def on_assign(self, pairs: list[tuple[str, int]]) -> None:
        self.assigned = self.assigned | frozenset(pairs)
        self.assigned_at = datetime.now(UTC)
        self.changed_mono = time.monotonic()
        self._next_beat = 0.0  # tell the operator at once
        log.info("assigned %d partition(s): %s (owns %d)", len(pairs), _names(pairs), len(self.assigned))

    def on_revoke(self, pairs: list[tuple[str, int]]) -> None:
        self.assigned = self.assigned - frozenset(pairs)
        self.changed_mono = time.monotonic()
        self._next_beat = 0.0
        log.info("revoked %d partition(s): %s (owns %d)", len(pairs), _names(pairs), len(self.assigned))

    def on_commit(self) -> None:
        self.committed_at = datetime.now(UTC)
        self.committed_mono = time.monotonic()

    def settled(self, quiet_s: float) -> bool:
        """The group is not forming: partitions owned and no change for `quiet_s` (one heartbeat)."""
        return bool(self.assigned) and time.monotonic() - self.changed_mono >= quiet_s

    # -- the judgement ----------------------------------------------------------------------------------
    def judge(self, now_mono: float) -> str | None:
        """Why this worker is stuck, or None."""
        if not self.assigned:
            idle = now_mono - self.changed_mono
            if idle >= self.stuck_after_s:
                return heartbeats.unassigned_reason(idle)
            return None
        lag = sum(p["lag"] for p in self.partitions)
        since_commit = now_mono - (self.committed_mono or self.changed_mono)
        if lag > 0 and since_commit >= self.stuck_after_s and now_mono - self.changed_mono >= self.stuck_after_s:
            return heartbeats.lag_reason(lag, since_commit)
        return None

    def beat(self, consumer, stats, force: bool = False, state: str | None = None) -> bool:
        """Every `heartbeat_s`: measure, judge, log transitions, write the row; True when it did. Never raises:
        a heartbeat that cannot be written (database away) is logged; the missing row itself then tells the
        operator."""
        now_mono = time.monotonic()
        if not force and now_mono < self._next_beat:
            return False
        self._next_beat = now_mono + self.heartbeat_s
        try:
            self.partitions = consumer.lag(sorted(self.assigned)) if consumer is not None else []
        except Exception as exc:  # noqa: BLE001 - the broker not answering a lag query is itself news
            log.warning("could not measure lag: %s", exc)
            known = {(p["topic"], p["partition"]): p for p in self.partitions}
            self.partitions = [known.get((t, n), {"topic": t, "partition": n, "position": None, "end": None,
                                                  "lag": 0}) for t, n in sorted(self.assigned)]
        reason = self.judge(now_mono)
        now = datetime.now(UTC)
        if reason and not self.stuck_reason:
            self.stuck_since = now
            log.error("%s stuck: %s", self.label, reason)
        elif self.stuck_reason and not reason:
            log.warning("%s making progress again after %s", self.label, now - (self.stuck_since or now))
            self.stuck_since = None
        self.stuck_reason = reason
        lag = sum(p["lag"] for p in self.partitions) if self.assigned else None
        WORKER_ASSIGNED.set(len(self.assigned))
        WORKER_LAG.set(lag or 0)
        WORKER_STUCK_SECONDS.set((now - self.stuck_since).total_seconds() if self.stuck_since else 0)
        beat = heartbeats.Beat(
            worker_id=self.worker_id, group_id=self.group, host=socket.gethostname(), pid=os.getpid(),
            started_at=self.started_at, beat_at=now,
            state=state or ("stuck" if reason else "consuming" if self.assigned else "starting"),
            reason=reason, partitions=self.partitions if self.assigned else [], lag=lag,
            assigned_at=self.assigned_at, committed_at=self.committed_at, stuck_since=self.stuck_since,
            messages=stats.messages, dead_letters=stats.dead_letters)
        try:
            with self.engine.begin() as conn:
                if not self._pruned:
                    heartbeats.prune(conn, now)
                heartbeats.record(conn, beat)
            self._pruned = True
        except SQLAlchemyError as exc:
            log.warning("could not write the heartbeat: %s", str(exc).splitlines()[0])
        return True

    def stuck_for(self) -> timedelta:
        return datetime.now(UTC) - self.stuck_since if self.stuck_since else timedelta(0)


def _names(pairs) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in sorted(pairs)) or "none"

"""Worker heartbeats: what each intake worker last said about its progress, and what an operator must know.

A worker process that is alive is not necessarily making progress: a consumer group that never forms leaves
every worker polling with no partitions while HTTP keeps answering 202. Each worker therefore writes, every few
seconds, the partitions it owns, its lag, and when it last committed; `group_problems` turns those rows into
the sentences `yunguan status`, `/readyz` and the console show. The lifeline and notify consumers beat the same
way in groups of their own (`Service` names each kind of member in those sentences).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection


class Problem(str):
    """One sentence of what stops intake, for `yunguan status` and logs, that also carries a code and its
    figures, so that a page can say it in its reader's language (the console's intake banner)."""

    code: str
    params: dict

    def __new__(cls, text_: str, code: str, **params) -> Problem:
        self = super().__new__(cls, text_)
        self.code, self.params = code, params
        return self

    def as_dict(self) -> dict:
        return {"code": self.code, "params": self.params, "text": str(self)}


# A worker's own reason for being stuck (streams.progress writes it into its heartbeat as text): written and
# read back here, so the two stay together.
def unassigned_reason(idle_s: float) -> str:
    return (f"no partition assigned for {int(idle_s)} s: the consumer group is not forming "
            "(or there are more workers than partitions)")


def lag_reason(lag: int, since_commit_s: float) -> str:
    return f"lag {lag} with no commit for {int(since_commit_s)} s"


_UNASSIGNED = re.compile(r"no partition assigned for (\d+) s")
_LAG = re.compile(r"lag (\d+) with no commit for (\d+) s")


@dataclass(frozen=True)
class Service:
    """A kind of consumer that beats: how the sentences name one member, and the command that starts one."""
    part: str  # intake | lifeline | notify: the part of /readyz and of `yunguan status` it is told under
    member: str  # "worker"
    running: str  # "intake worker" (in "no intake worker is running")
    command: str  # "yunguan worker"


INTAKE = Service("intake", "worker", "intake worker", "yunguan worker")
LIFELINE = Service("lifeline", "lifeline consumer", "lifeline consumer", "yunguan lifeline")
NOTIFY = Service("notify", "notify consumer", "notify consumer", "yunguan notify")


def _stuck(worker_id: str, reason: str | None, service: Service = INTAKE) -> Problem:
    text_ = f"{service.member} {worker_id} stuck: {reason}"
    if reason and (m := _UNASSIGNED.match(reason)):
        return Problem(text_, "worker_unassigned", worker=worker_id, seconds=int(m[1]))
    if reason and (m := _LAG.match(reason)):
        return Problem(text_, "worker_lagging", worker=worker_id, lag=int(m[1]), seconds=int(m[2]))
    return Problem(text_, "worker_stuck", worker=worker_id, reason=reason or "")


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


def latest(conn: Connection, group: str) -> Beat | None:
    """The group's newest heartbeat still kept (`prune` keeps a week), however old."""
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM worker_heartbeats WHERE group_id = :g "
                            "ORDER BY beat_at DESC LIMIT 1"), {"g": group}).first()
    return Beat(*row) if row else None


def intake_problems(beats: list[Beat], now: datetime, stuck_after: timedelta, heartbeat: timedelta) -> list[Problem]:
    return group_problems(beats, now, stuck_after, heartbeat, INTAKE)


def group_problems(beats: list[Beat], now: datetime, stuck_after: timedelta, heartbeat: timedelta,
                   service: Service) -> list[Problem]:
    """What stops a group's consumers (intake's workers by default), in sentences an operator can act on;
    empty while it flows. The codes are the same for every service; `/readyz` tells them under its part.

    A worker is silent when its heartbeat is older than `stuck_after` (a crashed process, a loop blocked on the
    database); it is stuck when it said so itself (no partitions, or lag with no commit, for `stuck_after`) —
    except a spare without partitions while others own them."""
    problems: list[Problem] = []
    silent_after = max(stuck_after, heartbeat * 3)
    alive = live(beats, now, silent_after)
    for b in beats:
        if b.state != "stopped" and b not in alive and now - b.beat_at <= silent_after * 4:
            silent = int((now - b.beat_at).total_seconds())
            problems.append(Problem(f"{service.member} {b.worker_id} silent for {silent} s (crashed, or blocked)",
                                    "worker_silent", worker=b.worker_id, seconds=silent))
    if not alive:
        problems.append(Problem(f"no {service.running} is running (start `{service.command}`)", "no_worker"))
        return problems
    # A spare worker (more workers than partitions, kept for failover) says it has had no partition for a
    # while; that stops nothing while a working worker owns partitions, so it is not reported.
    owners = [b for b in alive if b.partitions and b.state != "stuck"]
    for b in alive:
        if b.state == "stuck":
            problem = _stuck(b.worker_id, b.reason, service)
            if problem.code == "worker_unassigned" and owners:
                continue
            problems.append(problem)
    if all(not b.partitions for b in alive) and not any(b.state == "stuck" for b in alive):
        waiting = min(now - (b.assigned_at or b.started_at) for b in alive)
        if waiting > stuck_after:
            seconds = int(waiting.total_seconds())
            problems.append(Problem(f"no {service.member} owns a partition (for {seconds} s)", "no_partitions",
                                    seconds=seconds))
    return problems

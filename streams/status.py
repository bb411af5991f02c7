"""Is intake flowing? One report for `yunguan status`, `/readyz` and the console, from the broker's and the
workers' own accounts: topics, the group's committed offsets and lag per partition, worker heartbeats, dead
letters and reconcile gaps. `problems` is empty while intake flows; each entry is a sentence to act on.

The lifeline and notify consumers are watched the same way, from their heartbeats (`service_problems`): told
by `yunguan status` and `/readyz` (as warnings) and shown in the console, yet not part of `ok`, which is
about report intake (contract §11)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from config import Settings
from store import heartbeats, intake_log
from streams.topics import Topics, broker_address, port_answers


@dataclass
class IntakeStatus:
    broker: str
    topics: dict[str, int] = field(default_factory=dict)  # name -> partitions
    partitions: list[dict] = field(default_factory=list)  # [{topic, partition, committed, end, lag}]
    workers: list[dict] = field(default_factory=list)
    dead_letters: int | None = None
    reconcile_gaps: int | None = None
    problems: list[str] = field(default_factory=list)
    # `yunguan lifeline` consumers (their own group) and what stops them; told, not counted in `ok` (contract
    # §11's exit status is about report intake). Empty where no lifeline consumer ran in the last hour.
    lifeline: list[dict] = field(default_factory=list)
    lifeline_problems: list[str] = field(default_factory=list)
    notify: list[dict] = field(default_factory=list)  # `yunguan notify` consumers, told the same way
    notify_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        return {"ok": self.ok, "problems": self.problems, "broker": self.broker, "topics": self.topics,
                "lag": self.partitions, "total_lag": sum(p["lag"] for p in self.partitions),
                "workers": self.workers, "dead_letters": self.dead_letters, "reconcile_gaps": self.reconcile_gaps,
                "lifeline": {"consumers": self.lifeline, "problems": self.lifeline_problems},
                "notify": {"consumers": self.notify, "problems": self.notify_problems}}


def worker_problems(engine: Engine, settings: Settings, now: datetime) -> tuple[list[heartbeats.Beat], list[str]]:
    """The heartbeat half: cheap enough for every /readyz."""
    with engine.begin() as conn:
        beats = heartbeats.recent(conn, settings.worker_group, now)
    problems = heartbeats.intake_problems(beats, now, timedelta(seconds=settings.stuck_after_s),
                                          timedelta(seconds=settings.heartbeat_s))
    return beats, problems


def _group_of(settings: Settings, service: heartbeats.Service) -> str:
    return {"lifeline": settings.lifeline_group, "notify": settings.notify_group}[service.part]


def service_problems(engine: Engine, settings: Settings, service: heartbeats.Service,
                     now: datetime) -> tuple[list[heartbeats.Beat], list[heartbeats.Problem]]:
    """A service's consumers (lifeline or notify, each in its own group) judged as the intake workers are.
    Nothing where the service never ran or was stopped cleanly (an operator's choice: `yunguan status` still
    lists the stopped consumers); a consumer that went silent without stopping (killed, crashed, blocked)
    stays a problem until one runs again, however long ago that was (a week at most: `heartbeats.prune`)."""
    group = _group_of(settings, service)
    with engine.begin() as conn:
        beats = heartbeats.recent(conn, group, now)
        newest = None if beats else heartbeats.latest(conn, group)
    if all(b.state == "stopped" for b in beats) and (newest is None or newest.state == "stopped"):
        return beats, []
    return beats, heartbeats.group_problems(beats, now, timedelta(seconds=settings.stuck_after_s),
                                            timedelta(seconds=settings.heartbeat_s), service)


def lifeline_problems(engine: Engine, settings: Settings, now: datetime) -> tuple[list[heartbeats.Beat], list]:
    return service_problems(engine, settings, heartbeats.LIFELINE, now)


def notify_problems(engine: Engine, settings: Settings, now: datetime) -> tuple[list[heartbeats.Beat], list]:
    return service_problems(engine, settings, heartbeats.NOTIFY, now)


def _member(b: heartbeats.Beat) -> dict:
    return {"worker_id": b.worker_id, "state": b.state, "reason": b.reason, "host": b.host, "pid": b.pid,
            "beat_at": b.beat_at.isoformat(), "partitions": [f"{p['topic']}[{p['partition']}]" for p in b.partitions],
            "lag": b.lag, "committed_at": b.committed_at.isoformat() if b.committed_at else None,
            "messages": b.messages}


def intake_status(engine: Engine, settings: Settings, now: datetime, timeout_s: float = 5.0) -> IntakeStatus:
    host, port = broker_address(settings.kafka_bootstrap)
    topics = Topics(settings.topic_prefix)
    status = IntakeStatus(broker=f"{host}:{port}")
    beats, problems = worker_problems(engine, settings, now)
    status.workers = [_member(b) for b in beats]
    lifeline_beats, status.lifeline_problems = lifeline_problems(engine, settings, now)
    status.lifeline = [_member(b) for b in lifeline_beats]
    notify_beats, status.notify_problems = notify_problems(engine, settings, now)
    status.notify = [_member(b) for b in notify_beats]
    with engine.connect() as conn:
        status.reconcile_gaps = len(intake_log.missing_tickets(
            conn, now, timedelta(seconds=settings.reconcile_grace_s), limit=10_000))
    if status.reconcile_gaps:
        problems.append(f"{status.reconcile_gaps} report(s) accepted over HTTP have no ticket after "
                        f"{settings.reconcile_grace_s:.0f} s (`yunguan reconcile`)")
    if not port_answers(host, port, timeout=1.0):
        status.broker += " (unreachable)"
        status.problems = [f"the broker at {host}:{port} does not answer", *problems]
        return status
    try:
        # The workers' own view of each partition's end (from fetch responses) where they have one: Tansu's
        # ListOffsets answers the last record batch's base offset + 1, short of the end.
        fetched = {(p["topic"], p["partition"]): p["end"] or 0
                   for b in beats if b.state != "stopped" for p in b.partitions}
        _broker_side(status, settings, topics, timeout_s, fetched)
    except Exception as exc:  # noqa: BLE001 - a broker that answers TCP but not Kafka requests (paused)
        problems.insert(0, f"the broker at {host}:{port} does not answer Kafka requests: {exc}")
    missing = [t for t in topics.intake if t not in status.topics]
    if status.topics and missing:
        problems.insert(0, f"topic(s) missing: {', '.join(missing)} (`yunguan up`)")
    status.problems = problems
    return status


def _broker_side(status: IntakeStatus, settings: Settings, topics: Topics, timeout_s: float,
                 fetched: dict[tuple[str, int], int]) -> None:
    from kafka import KafkaConsumer, TopicPartition

    from streams.groups import committed_offsets

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             request_timeout_ms=int(timeout_s * 1000) + 1000)
    try:
        existing = consumer.topics()
        for name in (*topics.intake, topics.dlq):
            if name in existing:
                status.topics[name] = len(consumer.partitions_for_topic(name) or ())
        tps = [TopicPartition(t, p) for t in topics.intake if t in status.topics for p in range(status.topics[t])]
        ends = consumer.end_offsets(tps) if tps else {}
        dlq = [TopicPartition(topics.dlq, p) for p in range(status.topics.get(topics.dlq, 0))]
        status.dead_letters = sum(consumer.end_offsets(dlq).values()) if dlq else 0
    finally:
        consumer.close()
    committed = committed_offsets(settings.kafka_bootstrap, settings.worker_group)
    for tp in sorted(tps):
        done = committed.get((tp.topic, tp.partition))
        end = max(ends.get(tp, 0), fetched.get((tp.topic, tp.partition), 0), done or 0)
        status.partitions.append({"topic": tp.topic, "partition": tp.partition, "committed": done, "end": end,
                                  "lag": end - (done or 0)})

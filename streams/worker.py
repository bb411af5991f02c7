"""The intake worker: consume reports.*, write tickets, commit offsets only after the database did.

Order per batch: validate → dead-letter the invalid ones (confirmed by the broker) → one database
transaction for the valid ones → commit offsets → relay the outbox. A crash anywhere before the
offset commit replays the batch, and the unique (channel, report_id) makes the replay harmless.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from application.envelope import EnvelopeError, parse_envelope
from application.escalate import escalation_run
from application.ingest import Received, ingest
from application.routing import RoutingContext
from config import Settings
from store import heartbeats, intake_log
from store.audit import write_checkpoint
from store.tickets import allocate_sequence_apart
from streams.dlq import dead_letter
from streams.failures import Breaker, BreakerOpen, failure_reason, is_transient
from streams.guard import GroupGuard
from streams.metrics import (
    WORKER_BATCH_SECONDS,
    WORKER_DEAD_LETTERS,
    WORKER_FAILURES,
    WORKER_MESSAGES,
)
from streams.outbox import Send
from streams.progress import Progress
from streams.rdkafka import IntakeConsumer, Record, UnknownTopic
from streams.relay import Relay, WorkerStats
from streams.topics import Topics

log = logging.getLogger(__name__)


class MissingTopic(RuntimeError):
    pass


class DurabilityOff(RuntimeError):
    """synchronous_commit is off: a committed offset could outlive a lost transaction."""


def check_durability(engine: Engine) -> None:
    with engine.connect() as conn:
        value = conn.execute(text("SHOW synchronous_commit")).scalar_one()
    if value.lower() == "off":
        raise DurabilityOff(
            "PostgreSQL synchronous_commit is off for this role; the worker commits Kafka offsets only after "
            "durable database commits, so it refuses to run. Set synchronous_commit = on "
            "(ALTER ROLE ... SET synchronous_commit = on, or in postgresql.conf)."
        )


def make_consumer(settings: Settings, topics: Topics, progress: Progress | None = None) -> IntakeConsumer:
    consumer = IntakeConsumer(settings.kafka_bootstrap, settings.worker_group,
                              max_poll_interval_ms=settings.max_poll_interval_ms,
                              session_timeout_ms=settings.session_timeout_ms)
    try:
        existing = consumer.existing_topics()
    except BaseException:
        consumer.close()
        raise
    missing = [t for t in topics.intake if t not in existing]
    if missing:
        consumer.close()
        raise MissingTopic(f"topic(s) {', '.join(missing)} do not exist; run `yunguan up` (or `yunguan topics create`)")
    consumer.subscribe(list(topics.intake), on_assign=progress.on_assign if progress else None,
                       on_revoke=progress.on_revoke if progress else None)
    return consumer


@dataclass
class Worker:
    settings: Settings
    engine: Engine
    send: Send  # confirmed sends (streams.rdkafka.send_confirmed)
    routing: Callable[[], RoutingContext]
    topics: Topics
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stats: WorkerStats = field(default_factory=WorkerStats)
    breaker: Breaker | None = None
    loop: Callable | None = None  # store.loop.LoopContextCache: limits, calendar, unit levels
    escalate_every_s: float = 60.0
    _last_pass: float = 0.0
    _last_checkpoint: float | None = None  # None: one at start, then every settings.audit_checkpoint_every_s
    _failures: dict = field(default_factory=dict)  # (topic, partition, offset) -> (reason, tries)
    progress: Progress | None = None
    guard: GroupGuard | None = None

    def __post_init__(self) -> None:
        if self.progress is None:
            self.progress = Progress(self.engine, self.settings.worker_group, self.settings.heartbeat_s,
                                     self.settings.stuck_after_s)
        if self.guard is None:
            self.guard = GroupGuard(self.engine, self.settings.kafka_bootstrap, self.settings.worker_group,
                                    self.settings.group_recovery)
        if self.breaker is None:
            self.breaker = Breaker(self.settings.breaker_window, self.settings.breaker_threshold)

    def process(self, records: list[Record]) -> None:
        """Handle one polled batch; raises on transient failure (the caller replays from the last commit)."""
        valid: list[Received] = []
        letters = []
        now = self.clock()
        skew = timedelta(seconds=self.settings.future_skew_s)
        for m in records:
            try:
                envelope = parse_envelope(m.value, now, skew)
                expected = self.topics.channel_of(m.topic)
                if envelope.channel != expected:
                    raise EnvelopeError(
                        f"channel {envelope.channel!r} does not match topic {m.topic} "
                        f"(expected channel {expected!r}); publish to reports.{envelope.channel}"
                    )
                valid.append(Received(envelope, m.topic, m.partition, m.offset, getattr(m, "via_http", False)))
            except EnvelopeError as exc:
                letters.append(dead_letter(self.topics, m, exc.reason))
        self.breaker.record(0, len(letters))
        if letters:
            self.send(letters)
            WORKER_DEAD_LETTERS.labels("invalid").inc(len(letters))
            self.stats.dead_letters += len(letters)
            log.warning("dead-lettered %d message(s)", len(letters))
        if valid:
            raw = {(m.topic, m.partition, m.offset): m for m in records}
            self._write(valid, raw)
        self.stats.messages += len(valid) + len(letters)  # counted once their results are committed

    def _ingest(self, batch: list[Received]) -> None:
        ctx = self.routing()
        with self.engine.begin() as conn:
            created = ingest(
                conn, batch, ctx, now=self.clock(), timezone=self.settings.timezone,
                ticket_prefix=self.settings.ticket_prefix, events_topic=self.topics.ticket_events,
                loop=self.loop(conn) if self.loop else None,
                allocate=lambda day, count: allocate_sequence_apart(self.engine, day, count),
            )
        self.stats.tickets += len(created)
        self.breaker.record(len(batch), 0)

    def _write(self, batch: list[Received], raw: dict[tuple[str, int, int], Record]) -> None:
        """Write `batch` in one transaction. A failure that is not transient (database or broker away, a race
        with another worker) belongs to some message of the batch: the batch is split in halves, each written
        on its own, until the one message is found; once it has failed the same way `poison_tries` times it is
        dead-lettered with the database's reason, and the rest of the batch goes on."""
        try:
            self._ingest(batch)
            return
        except Exception as exc:
            if is_transient(exc):
                raise
            reason = failure_reason(exc)
            if len(batch) > 1:
                log.warning("a batch of %d report(s) failed (%s); splitting it to find the message", len(batch),
                            reason)
        if len(batch) > 1:
            half = len(batch) // 2
            self._write(batch[:half], raw)
            self._write(batch[half:], raw)
            return
        r = batch[0]
        key = (r.topic, r.partition, r.offset)
        seen, tries = self._failures.get(key, (reason, 0))
        tries = tries + 1 if seen == reason else 1
        while tries < self.settings.poison_tries:
            self._failures[key] = (reason, tries)
            try:
                self._ingest(batch)
                self._failures.pop(key, None)
                return
            except Exception as exc:
                if is_transient(exc):
                    raise
                again = failure_reason(exc)
                tries = tries + 1 if again == reason else 1
                reason = again
        self._failures.pop(key, None)
        self.breaker.record(0, 1)  # a code bug that fails every message trips the breaker instead
        why = f"could not be stored ({tries} tries): {reason}"
        letter = dead_letter(self.topics, raw[key], why)
        with self.engine.begin() as conn:  # before the letter: a failure here replays the batch, nothing sent
            intake_log.mark_dead(conn, r.envelope.channel, r.envelope.report_id, why)
        self.send([letter])
        self.stats.dead_letters += 1
        self.stats.poisoned += 1
        WORKER_DEAD_LETTERS.labels("refused_by_database").inc()
        log.error("dead-lettered %s/%s (%s:%d@%d): %s", r.envelope.channel, r.envelope.report_id, r.topic,
                  r.partition, r.offset, reason)

    def escalate_if_due(self) -> None:
        """The deadline pass, once a minute; the advisory lock lets one of several workers run it."""
        if self.loop is None or time.monotonic() - self._last_pass < self.escalate_every_s:
            return
        self._last_pass = time.monotonic()
        result = escalation_run(self.engine, self.loop, self.clock())
        if result.applied:
            log.info("deadline pass: %d change(s), %d skipped", len(result.applied), result.skipped)

    def checkpoint_if_due(self) -> None:
        """Anchor the history heads outside the database (store.audit), one worker at a time. A failure is
        logged and tried again next interval: intake never waits on the audit log."""
        every = self.settings.audit_checkpoint_every_s
        if every <= 0 or (self._last_checkpoint is not None and time.monotonic() - self._last_checkpoint < every):
            return
        self._last_checkpoint = time.monotonic()
        try:
            cp = write_checkpoint(self.engine, self.settings, self.clock(), not_within_s=every)
        except (OSError, SQLAlchemyError) as exc:
            log.error("audit checkpoint failed (next try in %g s): %s", every, exc)
            return
        if cp is not None:
            log.info("audit checkpoint #%d: %d tickets, %d entries, %d changed", cp.seq, cp.tickets, cp.entries,
                     len(cp.heads))

    def run(self, stop: threading.Event, consumer: IntakeConsumer | None = None) -> None:
        """Consume until `stop` is set. On stop the worker first lets a forming group settle (at most
        `leave_settle_s`): leaving while the group forms can wedge it on Tansu (streams.groups)."""
        check_durability(self.engine)
        progress = self.progress
        progress.assigned, progress.changed_mono = frozenset(), time.monotonic()
        consumer = consumer or make_consumer(self.settings, self.topics, progress)
        log.info("worker %s consuming %s as group %s", progress.worker_id, ", ".join(self.topics.intake),
                 self.settings.worker_group)
        relay = Relay(self.engine, self.send, self.stats)
        relay.start()
        failed = False
        leave_by = None
        # A member learns of a rebalance at its next heartbeat (a third of the session timeout): two of them
        # without a change mean no rebalance was under way when the worker decided to leave.
        quiet_s = max(2 * self.settings.session_timeout_ms / 3000, 1.0)
        try:
            while True:
                if stop.is_set():
                    leave_by = leave_by or time.monotonic() + self.settings.leave_settle_s
                    if progress.settled(quiet_s) and not self._others_joining() \
                            or not progress.assigned and progress.judge(time.monotonic()) \
                            or time.monotonic() >= leave_by:
                        break
                try:
                    records = consumer.poll_batch(self.settings.worker_batch_size, 0.2)
                except UnknownTopic as exc:
                    raise MissingTopic(f"a subscribed topic disappeared: {exc}; run `yunguan up`") from exc
                if records:
                    started = time.perf_counter()
                    self.process(records)
                    relay.wake()  # the batch's events are committed: publish them while the offsets go
                    consumer.commit(records)
                    progress.on_commit()
                    self.stats.batches += 1
                    WORKER_BATCH_SECONDS.observe(time.perf_counter() - started)
                    WORKER_MESSAGES.inc(len(records))
                self.escalate_if_due()
                self.checkpoint_if_due()
                relay.check()
                if progress.beat(consumer, self.stats):
                    self.recover_group_if_wedged()
        except BaseException:
            failed = True
            raise
        finally:
            try:
                relay.stop(quiet=failed)  # never hide why the loop stopped (a breaker, a missing topic)
            finally:
                progress.beat(None, self.stats, force=True, state="stopped")
                consumer.close()
                log.info("worker left the group")

    def _others_joining(self) -> bool:
        """Another live worker of the group has started and owns nothing yet: it is joining, and the group will
        rebalance; leaving now would leave while it forms (the trigger of Tansu's wedge)."""
        now = datetime.now(UTC)
        silent = timedelta(seconds=max(self.settings.stuck_after_s, 3 * self.settings.heartbeat_s))
        try:
            with self.engine.begin() as conn:
                beats = heartbeats.live(heartbeats.recent(conn, self.settings.worker_group, now), now, silent)
        except SQLAlchemyError:
            return False  # the database is away: nothing to wait for
        return any(b.worker_id != self.progress.worker_id and b.state == "starting" for b in beats)

    def recover_group_if_wedged(self) -> bool:
        """The group has not formed and no worker owns a partition: one worker recovers it (streams.guard)."""
        return self.guard.check(self.progress)


def run_until_signalled(worker: Worker, max_backoff_s: float = 60.0) -> None:
    """SIGTERM/SIGINT finish the current batch, then the consumer leaves the group cleanly."""
    import signal

    stop = threading.Event()

    def _stop(signum, frame):
        log.info("signal %s: finishing the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_supervised(worker, stop, max_backoff_s)


def run_supervised(worker: Worker, stop: threading.Event, max_backoff_s: float = 60.0) -> None:
    """Run the worker until `stop` is set, through every transient failure.

    Transient failures (database or broker down) are never dead-lettered: the worker backs off
    (1 s, 2 s, 4 s … up to `max_backoff_s`) and replays from the last committed offset with a fresh
    consumer. Configuration errors (missing topic, durability off, breaker open) stop it."""
    backoff = 1.0
    while not stop.is_set():
        batches_before = worker.stats.batches
        try:
            worker.run(stop)
        except (MissingTopic, DurabilityOff, BreakerOpen):
            raise
        except Exception:
            WORKER_FAILURES.inc()
            if worker.stats.batches > batches_before:
                backoff = 1.0
            log.exception("worker loop failed; replaying from the last committed offset in %.0f s", backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_s)

"""The lifeline consumer (`yunguan lifeline`): sensors.readings → raw series, threshold state, device tickets.

Order per batch, as the intake worker's: validate (reading/1 and a known device; anything else is
dead-lettered to reports.dlq with a reason, confirmed by the broker) → one database transaction
(`application.lifeline.apply_readings`: readings, state, tickets, outbox) → commit offsets → relay the outbox.
A crash before the offset commit replays the batch; the state's `last_at` per (device, metric) makes the
replay change nothing. Every `lifeline_offline_every_s` it runs the offline pass, and once an hour retention.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection, Engine

from application.lifeline import Applied, Lifeline, ReadingError, apply_readings, offline_pass, parse_reading
from application.lifeline import retention as drop_old
from config import Settings
from store.lifeline import kinds_of, load_rules
from streams.dlq import dead_letter
from streams.failures import failure_reason, is_transient
from streams.guard import GroupGuard
from streams.outbox import Send
from streams.progress import Progress
from streams.rdkafka import IntakeConsumer, Record, to_record
from streams.relay import Relay, WorkerStats
from streams.topics import Topics
from streams.worker import MissingTopic, check_durability

log = logging.getLogger(__name__)


@dataclass
class LifelineStats(WorkerStats):
    alarms: int = 0
    readings: int = 0


@dataclass
class LifelineConsumer:
    settings: Settings
    engine: Engine
    send: Send  # confirmed sends (streams.rdkafka.send_confirmed)
    topics: Topics
    loop: Callable  # store.loop.LoopContextCache
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stats: LifelineStats = field(default_factory=LifelineStats)
    rules_ttl_s: float = 5.0
    registry_ttl_s: float = 60.0
    _rules: tuple[float, dict] | None = None
    _kinds: dict[str, str] = field(default_factory=dict)
    _kinds_since: float = 0.0
    _status: dict = field(default_factory=dict)  # store.lifeline.heard's memory; dropped when a batch fails
    _last_offline: float = 0.0
    _last_retention: float | None = None
    _held: Connection | None = None  # while running: one connection for every batch
    _progress: Progress | None = None  # the heartbeat (made by `run`)
    guard: GroupGuard | None = None  # a wedged group is recovered (streams.guard)

    def __post_init__(self) -> None:
        if self.guard is None:
            self.guard = GroupGuard(self.engine, self.settings.kafka_bootstrap, self.settings.lifeline_group,
                                    self.settings.group_recovery)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A batch's transaction, on the connection `run` holds (a pool checkout pings the database first: a
        round trip per batch for nothing), or on a pooled one outside `run`."""
        if self._held is None:
            with self.engine.begin() as conn:
                yield conn
        else:
            with self._held.begin():
                yield self._held

    def context(self, conn) -> Lifeline:
        if self._rules is None or time.monotonic() - self._rules[0] > self.rules_ttl_s:
            self._rules = (time.monotonic(), load_rules(conn))
        return Lifeline(self._rules[1], self.loop(conn), self.settings.timezone, self.settings.ticket_prefix)

    def process(self, records: list[Record]) -> Applied:
        """Validate, dead-letter, apply one batch in one transaction; raises on failure (the caller replays)."""
        return self._process([r.value for r in records], records.__getitem__)

    def process_messages(self, messages: list) -> Applied:
        """`process` for librdkafka's messages as polled (no Record made unless one is dead-lettered)."""
        return self._process([m.value() for m in messages], lambda i: to_record(messages[i]))

    def _process(self, values: list[bytes | None], record: Callable[[int], Record]) -> Applied:
        """The batch as its messages' values; `record(i)`: the i-th message as a Record, for its dead letter.
        The readings go on as plain (device_id, at, values, i) tuples: fields 0–2 are a Reading's."""
        now = self.clock()
        skew = self.settings.future_skew_s
        latest = now + timedelta(seconds=skew)
        parsed: list[tuple] = []
        letters = []
        for i, value in enumerate(values):
            try:
                device_id, at, metrics = parse_reading(value, now, skew, latest=latest)
            except ReadingError as exc:
                letters.append(dead_letter(self.topics, record(i), f"reading/1: {exc.reason}"))
                continue
            parsed.append((device_id, at, metrics, i))
        ids = {r[0] for r in parsed}
        kinds = self.registered(ids) if ids else {}
        if len(kinds) < len(ids):
            for r in parsed:
                if r[0] not in kinds:
                    letters.append(dead_letter(self.topics, record(r[3]), f"device_id: {r[0]} is not in the device "
                                                                          "registry (yunguan devices load)"))
            parsed = [r for r in parsed if r[0] in kinds]
        if letters:
            self.send(letters)
            self.stats.dead_letters += len(letters)
            log.warning("lifeline: dead-lettered %d reading(s)", len(letters))
        applied = Applied()
        if parsed:
            self._apply(parsed, record, applied, kinds)
        self.stats.readings += len(parsed)
        self.stats.messages += len(values)
        return applied

    def registered(self, ids: set[str]) -> dict[str, str]:
        """{device_id: kind} of the registered devices among `ids`, from a cache of the registry: the ones not
        in it are looked up (a device loaded a moment ago counts at once); the whole cache is dropped every
        `registry_ttl_s` (a device's kind changed by a later load). Saves a query per batch."""
        if time.monotonic() - self._kinds_since > self.registry_ttl_s:
            self._kinds, self._kinds_since = {}, time.monotonic()
        missing = ids - self._kinds.keys()
        if missing:
            with self.engine.connect() as conn:
                self._kinds.update(kinds_of(conn, missing))
        return {d: self._kinds[d] for d in ids if d in self._kinds}

    def _apply(self, readings: list[tuple], record: Callable[[int], Record], applied: Applied,
               kinds: dict[str, str]) -> None:
        """Apply in one transaction. A failure that is not transient belongs to some reading: the batch is
        halved until that one is found, which is dead-lettered with the database's reason (the rest goes
        on); a transient one (database or broker away) is raised, and the loop replays."""
        try:
            with self._begin() as conn:
                done = apply_readings(conn, readings, self.context(conn), self.clock(), kinds, self._status)
        except Exception as exc:
            self._status.clear()  # it may name writes that were rolled back
            if is_transient(exc):
                raise
            if len(readings) > 1:
                half = len(readings) // 2
                self._apply(readings[:half], record, applied, kinds)
                self._apply(readings[half:], record, applied, kinds)
                return
            device_id, at, _, i = readings[0]
            self.send([dead_letter(self.topics, record(i),
                                   f"could not be stored: {failure_reason(exc)}")])
            self.stats.dead_letters += 1
            self.stats.poisoned += 1
            log.error("lifeline: dead-lettered a reading of %s at %s: %s", device_id, at, failure_reason(exc))
            return
        applied.stored += done.stored
        applied.alarms += done.alarms
        applied.opened += done.opened
        applied.annotated += done.annotated
        self.stats.tickets += len(done.opened)
        self.stats.alarms += len(done.alarms)

    def _offline_due(self) -> bool:
        return time.monotonic() - self._last_offline >= self.settings.lifeline_offline_every_s

    def offline_if_due(self, force: bool = False) -> list[str]:
        if not force and not self._offline_due():
            return []
        self._last_offline = time.monotonic()
        with self.engine.begin() as conn:
            touched = offline_pass(conn, self.context(conn), self.clock())
        if touched:
            log.info("lifeline: offline pass touched %s", ", ".join(touched))
        return touched

    def retention_if_due(self) -> None:
        if self._last_retention is not None and time.monotonic() - self._last_retention < 3600:
            return
        self._last_retention = time.monotonic()
        with self.engine.begin() as conn:
            dropped = drop_old(conn, self.clock(), self.settings.lifeline_retention_days)
        if dropped:
            log.info("lifeline: retention dropped %d day partition(s)", dropped)

    def make_consumer(self) -> IntakeConsumer:
        consumer = IntakeConsumer(self.settings.kafka_bootstrap, self.settings.lifeline_group,
                                  max_poll_interval_ms=self.settings.max_poll_interval_ms,
                                  session_timeout_ms=self.settings.session_timeout_ms, client_id="yunguan-lifeline")
        try:
            if self.topics.sensor_readings not in consumer.existing_topics():
                raise MissingTopic(f"topic {self.topics.sensor_readings} does not exist; run `yunguan up` "
                                   "(or `yunguan topics create`)")
        except BaseException:
            consumer.close()
            raise
        progress = self._progress

        def assigned(pairs) -> None:
            _quiet(pairs)
            if progress is not None:
                progress.on_assign(pairs)

        def revoked(pairs) -> None:
            if progress is not None:
                progress.on_revoke(pairs)

        consumer.subscribe([self.topics.sensor_readings], on_assign=assigned, on_revoke=revoked)
        return consumer

    def run(self, stop: threading.Event, consumer: IntakeConsumer | None = None) -> None:
        """Consume until `stop` is set; offsets are committed only after the batch's transaction. Every
        `heartbeat_s` a heartbeat row in the lifeline group says what it owns, its lag and whether it is stuck
        (streams.progress, as the intake worker's): `yunguan status` reads them."""
        check_durability(self.engine)
        if self._progress is None:
            self._progress = Progress(self.engine, self.settings.lifeline_group, self.settings.heartbeat_s,
                                      self.settings.stuck_after_s,
                                      label="lifeline consumer")
        progress = self._progress
        progress.assigned, progress.changed_mono = frozenset(), time.monotonic()
        consumer = consumer or self.make_consumer()
        relay = Relay(self.engine, self.send, self.stats)
        relay.start()
        self._held = self.engine.connect()
        failed = False
        # The first offline pass one interval after start, and none while a backlog is being read (a full
        # batch; at most four intervals in a row): readings that queued up while no consumer ran are read
        # first, instead of every device looking silent since then.
        self._last_offline = max(self._last_offline, time.monotonic())
        postponed = 0
        batch, linger = self.settings.lifeline_batch_size, self.settings.lifeline_linger_ms / 1000
        log.info("lifeline consuming %s as group %s", self.topics.sensor_readings, self.settings.lifeline_group)
        try:
            while not stop.is_set():
                records = consumer.poll_messages(batch, 0.2, linger)
                if records:
                    applied = self.process_messages(records)
                    if applied.opened or applied.annotated:  # only then are there events in the outbox
                        relay.wake()
                    consumer.commit_consumed()
                    progress.on_commit()
                    self.stats.batches += 1
                backlog = len(records) >= batch and postponed < 4
                if backlog and self._offline_due():
                    postponed += 1
                    self._last_offline = time.monotonic()
                elif self._offline_due():
                    postponed = 0
                    if self.offline_if_due():
                        relay.wake()
                self.retention_if_due()
                relay.check()
                if progress.beat(consumer, self.stats):
                    self.guard.check(progress)
        except BaseException:
            failed = True
            raise
        finally:
            if not failed:  # a failed loop is retried (run_supervised); while it keeps failing its beat goes silent
                progress.beat(None, self.stats, force=True, state="stopped")
            try:
                relay.stop(quiet=failed)
            finally:
                held, self._held = self._held, None
                try:
                    held.close()
                finally:
                    consumer.close()


def run_supervised(consumer: LifelineConsumer, stop: threading.Event, max_backoff_s: float = 60.0) -> None:
    """Run until `stop`, backing off and replaying from the last committed offset after a failure."""
    backoff = 1.0
    while not stop.is_set():
        before = consumer.stats.batches
        try:
            consumer.run(stop)
        except MissingTopic:
            raise
        except Exception:
            if consumer.stats.batches > before:
                backoff = 1.0
            log.exception("lifeline loop failed; replaying from the last committed offset in %.0f s", backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_s)


def _quiet(partitions) -> None:
    log.info("lifeline partitions: %s", ", ".join(f"{t}:{p}" for t, p in partitions) or "none")

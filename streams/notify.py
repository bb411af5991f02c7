"""`yunguan notify`: ticket events become deliveries, and due deliveries are sent (docs/notifications.md).

Two loops in one process:
- the consumer: a member of its own group (`notify_group`) on `tickets.events`; per polled batch, one
  transaction queues every delivery the events cause (application.notify.plan) and only then are the offsets
  committed. A replay queues nothing twice: a delivery is unique per (event, target).
- the sender (a thread): claims due deliveries with a lease, sends each through its plug-in outside any
  transaction, and records the attempt: delivered; or failed and due again after back-off; or, after
  `notify_max_attempts` tries, dead — listed by `yunguan deliveries list --failed`, `yunguan webhooks list`
  and GET /api/v1/deliveries?failed=1, and logged as an error.

A consumer group that is new starts at the earliest offset (as the worker's); events older than
`MAX_EVENT_AGE` are skipped then, so a first start on a long-running broker does not tell anyone about last
month. Addresses are never logged: log lines name deliveries by id and channel.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from confluent_kafka import KafkaException
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from application.notify import (
    Hook,
    Message,
    Notifier,
    backoff,
    event_key,
    load_templates,
    mask_text,
    parse_unit_contacts,
    plan,
)
from config import Settings
from store import deliveries
from streams.guard import GroupGuard
from streams.progress import Progress
from streams.rdkafka import IntakeConsumer, Record
from streams.topics import Topics

log = logging.getLogger(__name__)

MAX_EVENT_AGE = timedelta(days=1)


@dataclass
class NotifyStats:
    events: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0

    # What a heartbeat reports (streams.progress): events read, and no dead letters (an event that is not a
    # ticket event is skipped and logged, it was written by Yunguan itself).
    @property
    def messages(self) -> int:
        return self.events

    @property
    def dead_letters(self) -> int:
        return 0


@dataclass
class NotifyService:
    settings: Settings
    engine: Engine
    topics: Topics
    notifier: Notifier | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stats: NotifyStats = field(default_factory=NotifyStats)
    progress: Progress | None = None  # heartbeats in `notify_group` (streams.progress): `yunguan status`, /readyz
    guard: GroupGuard | None = None  # a wedged group is recovered (streams.guard)

    def __post_init__(self) -> None:
        s = self.settings
        if self.progress is None:
            self.progress = Progress(self.engine, s.notify_group, s.heartbeat_s, s.stuck_after_s,
                                     label="notify consumer")
        if self.guard is None:
            self.guard = GroupGuard(self.engine, s.kafka_bootstrap, s.notify_group, s.group_recovery)
        if self.notifier is None:
            self.notifier = Notifier.from_settings(s)
        self.templates = load_templates(s.notify_templates)
        self.unit_contacts = parse_unit_contacts(s.notify_unit_contacts)
        self.zone = ZoneInfo(s.timezone)

    # --- events → deliveries ---------------------------------------------------------------------------------

    def queue(self, records: list[Record]) -> int:
        """Queue the deliveries of a batch of ticket events in one transaction; returns how many were new."""
        now = self.clock()
        new = 0
        with self.engine.begin() as conn:
            hooks = [Hook(h.id, h.url, h.secret, tuple(h.events or ()), h.unit_code) for h in deliveries.hooks(conn)]
            contacts: dict[str, list[str]] = {}
            for r in records:
                try:
                    event = json.loads(r.value)
                    key = event_key(event)
                    at = datetime.fromisoformat(event["at"])
                except (TypeError, ValueError, KeyError) as exc:
                    log.warning("tickets.events %d@%d is not a ticket event (%s); skipped", r.partition, r.offset,
                                type(exc).__name__)
                    continue
                self.stats.events += 1
                if now - at > MAX_EVENT_AGE:
                    continue
                no = event["ticket_no"]
                if no not in contacts:
                    contacts[no] = deliveries.reporter_contacts(conn, no)
                planned = plan(event, hooks=hooks, reporters=contacts[no], unit_contacts=self.unit_contacts,
                               templates=self.templates, zone=self.zone, channels=self.notifier.channels,
                               body=r.value.decode("utf-8"))
                new += deliveries.enqueue(conn, key, no, event["event"], [
                    {"channel": p.channel, "target_key": p.target_key, "target": p.target, "address": p.address,
                     "hook_id": p.hook_id, "subject": p.subject, "body": p.body} for p in planned], now)
        self.stats.queued += new
        return new

    def _queue_until_done(self, records: list[Record], stop: threading.Event) -> bool:
        """`queue`, tried again (1 s, 2 s, … at most 30 s apart) while the database is away; False if stopped
        first (the offsets stay uncommitted: the batch is read again by the next member)."""
        pause = 1.0
        while True:
            try:
                self.queue(records)
                return True
            except SQLAlchemyError as exc:
                log.error("notify: queueing %d event(s) failed (%s); trying again in %g s", len(records),
                          type(exc).__name__, pause)
            if stop.wait(pause):
                return False
            pause = min(pause * 2, 30.0)

    # --- sending ---------------------------------------------------------------------------------------------

    def send_due(self, limit: int = 50) -> int:
        """Send the deliveries due now; returns how many were tried."""
        s = self.settings
        lease = timedelta(seconds=2 * s.notify_timeout_s + 30)
        with self.engine.begin() as conn:
            due = deliveries.claim(conn, self.clock(), lease, limit)
        for d in due:
            message = Message(d.id, d.channel, d.body, d.subject, d.address, d.url, d.secret, d.event)
            if d.channel == "webhook" and d.url is None:
                outcome_ok, code, error, ms = False, None, "the webhook was removed", 0
                tries = s.notify_max_attempts  # nothing to retry
            else:
                outcome = self.notifier.send(message)
                outcome_ok, code, error, ms = outcome.ok, outcome.status_code, mask_text(outcome.error), \
                    outcome.duration_ms
                tries = d.attempts + 1
            now = self.clock()
            next_at = None if outcome_ok or tries >= s.notify_max_attempts else \
                now + backoff(tries, s.notify_backoff_s, s.notify_backoff_max_s)
            with self.engine.begin() as conn:
                deliveries.record(conn, d.id, ok=outcome_ok, status_code=code, error=error, duration_ms=ms, at=now,
                                  next_at=next_at)
            if outcome_ok:
                self.stats.sent += 1
            elif next_at is None:
                self.stats.dead += 1
                log.error("delivery %d (%s, %s) is dead after %d attempt(s): %s", d.id, d.channel, d.event, tries,
                          error)
            else:
                self.stats.failed += 1
                log.warning("delivery %d (%s) attempt %d failed: %s; next at %s", d.id, d.channel, tries, error,
                            next_at.isoformat(timespec="seconds"))
        return len(due)

    def _send_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                tried = self.send_due()
            except Exception:  # the database away: try again after a pause, never end the loop
                log.exception("sending deliveries failed; trying again")
                tried = 0
            if not tried:
                stop.wait(self.settings.notify_poll_s)

    # --- the process -----------------------------------------------------------------------------------------

    def make_consumer(self) -> IntakeConsumer:
        s = self.settings
        consumer = IntakeConsumer(s.kafka_bootstrap, s.notify_group, max_poll_interval_ms=s.max_poll_interval_ms,
                                  session_timeout_ms=s.session_timeout_ms, client_id="yunguan-notify")
        consumer.subscribe([self.topics.ticket_events], on_assign=self.progress.on_assign,
                           on_revoke=self.progress.on_revoke)
        return consumer

    def run(self, stop: threading.Event, consumer: IntakeConsumer | None = None) -> None:
        """Consume and send until `stop` is set, beating every `heartbeat_s` (a silent, stuck or group-less
        consumer is told by `yunguan status`, /readyz and the console; a wedged group is recovered)."""
        progress = self.progress
        progress.assigned, progress.changed_mono = frozenset(), time.monotonic()
        consumer = consumer or self.make_consumer()
        sender = threading.Thread(target=self._send_loop, args=(stop,), name="notify-sender", daemon=True)
        sender.start()
        log.info("notify: consuming %s as group %s; channels %s", self.topics.ticket_events,
                 self.settings.notify_group, ", ".join(sorted(self.notifier.channels)))
        failed = False
        try:
            while not stop.is_set():
                records = consumer.poll_batch(200, 0.2)
                if records and self._queue_until_done(records, stop):
                    try:
                        consumer.commit(records)
                        progress.on_commit()
                    except KafkaException as exc:  # a rebalance meanwhile: the events come again, queued once
                        log.warning("notify: committing offsets failed (%s); the batch will be read again", exc)
                if progress.beat(consumer, self.stats):
                    self.guard.check(progress)
        except BaseException:
            failed = True
            raise
        finally:
            stop.set()
            if not failed:  # a consumer that failed goes silent, and that is what the operator is told
                progress.beat(None, self.stats, force=True, state="stopped")
            sender.join(timeout=2 * self.settings.notify_timeout_s + 5)
            consumer.close()
            log.info("notify stopped: %s", self.stats)

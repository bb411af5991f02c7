"""`yunguan notify`: ticket events become deliveries, and due deliveries are sent (docs/notifications.md).

Two loops in one process:
- the consumer: a member of its own group (`notify_group`) on `tickets.events`; per polled batch, one
  transaction queues every delivery the events cause (application.notify.plan) and only then are the offsets
  committed. A replay queues nothing twice: a delivery is unique per (event, target). An event that cannot be
  read, planned or stored is dead-lettered with its reason; the rest of its batch goes on.
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
from functools import partial
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
from streams.dlq import dead_letter
from streams.failures import is_transient
from streams.guard import GroupGuard
from streams.outbox import Send
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
    dead_letter_count: int = 0  # events sent to the dead-letter topic (not readable, or not plannable)

    # What a heartbeat reports (streams.progress): events read, and events dead-lettered.
    @property
    def messages(self) -> int:
        return self.events

    @property
    def dead_letters(self) -> int:
        return self.dead_letter_count


@dataclass
class NotifyService:
    settings: Settings
    engine: Engine
    topics: Topics
    notifier: Notifier | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stats: NotifyStats = field(default_factory=NotifyStats)
    send: Send | None = None  # confirmed sends for dead letters (streams.rdkafka; made on first use when None)
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
        """Queue the deliveries of a batch of ticket events in one transaction; returns how many were new.

        An event that cannot be read or planned (not a ticket event, a field of the wrong shape) is
        dead-lettered with the reason and the rest go on. If the database refuses the batch for a reason
        that is not transient (a value it cannot store), each event is queued on its own and the one it
        refuses is dead-lettered: a bad event never stops notifications, nor is it retried for ever."""
        try:
            return self._queue(records)
        except SQLAlchemyError as exc:
            if is_transient(exc):
                raise
            if len(records) == 1:
                self._dead_letter(records[0], f"the database refused it: {_first_line(exc)}")
                return 0
        log.warning("notify: the database refused a batch of %d; queueing its events one by one", len(records))
        return sum(self.queue([r]) for r in records)

    def _queue(self, records: list[Record]) -> int:
        now = self.clock()
        new = 0
        letters: list[tuple[Record, str]] = []
        with self.engine.begin() as conn:
            hooks = [Hook(h.id, h.url, h.secret, tuple(h.events or ()), h.unit_code) for h in deliveries.hooks(conn)]
            contacts: dict[str, list[str]] = {}
            for r in records:
                try:
                    event = json.loads(r.value)
                    key = event_key(event)
                    at = datetime.fromisoformat(event["at"])
                    if at.tzinfo is None:
                        raise ValueError("at has no UTC offset")
                    no = event["ticket_no"]
                    if not isinstance(no, str) or not isinstance(event["event"], str):
                        raise TypeError("ticket_no and event must be strings")
                except (TypeError, ValueError, KeyError) as exc:
                    letters.append((r, f"not a ticket event ({type(exc).__name__}: {exc})"))
                    continue
                self.stats.events += 1
                if now - at > MAX_EVENT_AGE:
                    continue
                if no not in contacts:
                    contacts[no] = deliveries.reporter_contacts(conn, no)
                try:
                    planned = plan(event, hooks=hooks, reporters=contacts[no], unit_contacts=self.unit_contacts,
                                   templates=self.templates, zone=self.zone, channels=self.notifier.channels,
                                   body=r.value.decode("utf-8"))
                except SQLAlchemyError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a field of the wrong shape: this event, not the batch
                    letters.append((r, f"ticket event could not be planned ({type(exc).__name__}: {exc})"))
                    continue
                new += deliveries.enqueue(conn, key, no, event["event"], [
                    {"channel": p.channel, "target_key": p.target_key, "target": p.target, "address": p.address,
                     "hook_id": p.hook_id, "subject": p.subject, "body": p.body} for p in planned], now)
        for r, reason in letters:  # after the commit: a batch replayed after a failure letters nothing twice
            self._dead_letter(r, reason)
        self.stats.queued += new
        return new

    def _queue_until_done(self, records: list[Record], stop: threading.Event) -> bool:
        """`queue`, tried again (1 s, 2 s, … at most 30 s apart) while the database or the broker (for a dead
        letter) is away; False if stopped first (the offsets stay uncommitted: the batch is read again by the
        next member). Anything else is a bug, and ends the loop loudly."""
        pause = 1.0
        while True:
            try:
                self.queue(records)
                return True
            except Exception as exc:
                if not is_transient(exc) and not isinstance(exc, SQLAlchemyError):
                    raise
                log.error("notify: queueing %d event(s) failed (%s); trying again in %g s", len(records),
                          type(exc).__name__, pause)
            if stop.wait(pause):
                return False
            pause = min(pause * 2, 30.0)

    def _dead_letter(self, record: Record, reason: str) -> None:
        """To the dead-letter topic (`yunguan dlq list` shows it), acknowledged before the batch's offsets
        move; logged by topic, partition and offset only (an event may hold an address)."""
        if self.send is None:
            from streams import rdkafka

            self.send = partial(rdkafka.send_confirmed, rdkafka.make_producer(self.settings.kafka_bootstrap))
        self.send([dead_letter(self.topics, record, f"notify: {reason}")])
        self.stats.dead_letter_count += 1
        log.error("notify: tickets.events %d@%d dead-lettered: %s", record.partition, record.offset,
                  reason[:200])

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


def _first_line(exc: BaseException) -> str:
    return (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0][:300]

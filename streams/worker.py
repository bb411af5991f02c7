"""The intake worker: consume reports.*, write tickets, commit offsets only after the database did.

Order per batch: validate → dead-letter the invalid ones (confirmed by the broker) → one database
transaction for the valid ones → commit offsets → relay the outbox. A crash anywhere before the
offset commit replays the batch, and the unique (channel, report_id) makes the replay harmless.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from sqlalchemy.engine import Engine

from config import Settings
from streams.dlq import dead_letter
from streams.envelope import EnvelopeError, parse_envelope
from streams.intake import Received, RoutingContext, ingest
from streams.outbox import relay_all
from streams.producer import send_confirmed
from streams.topics import Topics

log = logging.getLogger(__name__)


class MissingTopic(RuntimeError):
    pass


@dataclass
class WorkerStats:
    batches: int = 0
    tickets: int = 0
    dead_letters: int = 0
    events_relayed: int = 0


def make_consumer(settings: Settings, topics: Topics) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.worker_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        allow_auto_create_topics=False,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(settings.session_timeout_ms // 3, 100),
        max_poll_records=settings.worker_batch_size,
    )
    existing = consumer.topics()
    missing = [t for t in topics.intake if t not in existing]
    if missing:
        consumer.close()
        raise MissingTopic(f"topic(s) {', '.join(missing)} do not exist; run `yunguan up` (or `yunguan topics create`)")
    consumer.subscribe(list(topics.intake))
    return consumer


@dataclass
class Worker:
    settings: Settings
    engine: Engine
    producer: object
    routing: Callable[[], RoutingContext]
    topics: Topics
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    stats: WorkerStats = field(default_factory=WorkerStats)

    def process(self, records) -> None:
        """Handle one polled batch: {TopicPartition: [ConsumerRecord]}; raises on transient failure."""
        valid: list[Received] = []
        letters = []
        for tp, messages in records.items():
            for m in messages:
                try:
                    envelope = parse_envelope(m.value)
                    expected = self.topics.channel_of(m.topic)
                    if envelope.channel != expected:
                        raise EnvelopeError(
                            f"channel {envelope.channel!r} does not match topic {m.topic} "
                            f"(expected channel {expected!r}); publish to reports.{envelope.channel}"
                        )
                    valid.append(Received(envelope, m.topic, m.partition, m.offset))
                except EnvelopeError as exc:
                    letters.append(dead_letter(self.topics, m, exc.reason))
        if letters:
            send_confirmed(self.producer, letters)
            self.stats.dead_letters += len(letters)
            log.warning("dead-lettered %d message(s)", len(letters))
        if valid:
            ctx = self.routing()
            with self.engine.begin() as conn:
                created = ingest(
                    conn, valid, ctx, now=self.clock(), timezone=self.settings.timezone,
                    ticket_prefix=self.settings.ticket_prefix, events_topic=self.topics.ticket_events,
                )
            self.stats.tickets += len(created)

    def run(self, stop: threading.Event, consumer: KafkaConsumer | None = None) -> None:
        consumer = consumer or make_consumer(self.settings, self.topics)
        log.info("worker consuming %s as group %s", ", ".join(self.topics.intake), self.settings.worker_group)
        try:
            while not stop.is_set():
                records = consumer.poll(timeout_ms=200, max_records=self.settings.worker_batch_size)
                if records:
                    self.process(records)
                    consumer.commit(
                        {tp: OffsetAndMetadata(msgs[-1].offset + 1, "", -1) for tp, msgs in records.items()}
                    )
                    self.stats.batches += 1
                self.stats.events_relayed += relay_all(self.engine, self.producer)
        finally:
            consumer.close()
            log.info("worker left the group")


def run_until_signalled(worker: Worker) -> None:
    """SIGTERM/SIGINT finish the current batch, then the consumer leaves the group cleanly."""
    import signal

    stop = threading.Event()

    def _stop(signum, frame):
        log.info("signal %s: finishing the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop.is_set():
        try:
            worker.run(stop)
        except MissingTopic:
            raise
        except Exception:
            # Transient failures (database or broker down) are never dead-lettered: back off and
            # replay from the last committed offset with a fresh consumer.
            log.exception("worker loop failed; restarting from the last committed offset in 2 s")
            stop.wait(2.0)

"""A Kafka producer whose sends are confirmed one by one: acks=all, and each result checked.

kafka-python's flush() does not raise for failed sends, so callers that must know (the HTTP
intake answering 202, the outbox relay marking rows sent) wait on each send's future.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError

from application.accept import BrokerUnavailable

log = logging.getLogger(__name__)




@dataclass(frozen=True)
class Delivered:
    topic: str
    partition: int
    offset: int


def make_producer(bootstrap: str, *, max_block_ms: int = 3000, request_timeout_ms: int = 5000) -> KafkaProducer:
    try:
        return KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=2,
            retries=3,
            max_block_ms=max_block_ms,
            request_timeout_ms=request_timeout_ms,
            # Fail fast when the broker is away: callers answer 503 and retry, never 202.
            bootstrap_timeout_ms=max_block_ms,
            delivery_timeout_ms=request_timeout_ms + 3000,
        )
    except KafkaError as exc:
        raise BrokerUnavailable(f"Kafka broker at {bootstrap} is unreachable: {exc}") from exc


def encode(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# Header on reports that HTTP intake published: only those can have been answered 503 (intake_log.refused_at),
# so only they make the worker consult intake_log (one query per batch saved for every other source).
HTTP_INTAKE_HEADER = "yunguan-intake"


def send_confirmed(
    producer: KafkaProducer, messages: list[tuple[str, bytes | None, bytes]], timeout_s: float = 10.0,
    headers: list[tuple[str, bytes]] | None = None,
) -> list[Delivered]:
    """Send (topic, key, value) triples and wait until the broker acknowledged every one."""
    try:
        futures = [producer.send(topic, key=key, value=value, headers=headers) for topic, key, value in messages]
        producer.flush(timeout=timeout_s)
        results = [f.get(timeout=timeout_s) for f in futures]
    except KafkaError as exc:
        raise BrokerUnavailable(f"broker did not acknowledge: {exc}") from exc
    return [Delivered(r.topic, r.partition, r.offset) for r in results]


class ReportPublisher:
    """HTTP intake's publisher (application.accept.Publisher) on one kafka-python producer, made on first use.

    After a failed send the producer is dropped (one that lived through a broker pause can stay wedged; it is
    closed on a thread of its own, as closing waits for sends in flight) and `retry_after` answers the rest of
    `retry_after_s`, so reports are refused at once for a moment; the next attempt makes a new producer. A
    client therefore recovers by itself when the broker returns. Reports carry the header HTTP_INTAKE_HEADER."""

    def __init__(self, bootstrap: str, topic_of, retry_after_s: float, timeout_s: float = 5.0) -> None:
        self._bootstrap = bootstrap
        self._topic_of = topic_of
        self._retry_after_s = retry_after_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._down_until = 0.0
        self.failures = 0  # consecutive failed sends; 0 after a success

    @property
    def failing(self) -> bool:
        """The last attempt to publish failed (for /readyz: a paused broker still accepts connections)."""
        return self.failures > 0

    def retry_after(self) -> float:
        return max(0.0, self._down_until - time.monotonic())

    def publish(self, channel: str, report_id: str, value: dict) -> None:
        try:
            send_confirmed(self._get(), [(self._topic_of(channel), report_id.encode("utf-8"), encode(value))],
                           timeout_s=self._timeout_s, headers=[(HTTP_INTAKE_HEADER, b"http")])
        except BrokerUnavailable:
            self._failed()
            raise
        self.failures = 0

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = make_producer(self._bootstrap)
            return self._producer

    def _failed(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
            self.failures += 1
            self._down_until = time.monotonic() + self._retry_after_s
        if producer is not None:
            threading.Thread(target=_close_quietly, args=(producer,), daemon=True).start()

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=5)


def _close_quietly(producer: KafkaProducer) -> None:
    """Let the sends in flight end (they fail within the producer's delivery timeout), then close: a producer
    closed with sends pending tries again, and fails, when it is garbage-collected."""
    try:
        producer.close(timeout=15)
    except Exception as exc:  # noqa: BLE001 - a producer being discarded; nothing depends on it
        log.info("closing a discarded producer: %s", exc)

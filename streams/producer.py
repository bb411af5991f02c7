"""A Kafka producer whose sends are confirmed one by one: acks=all, and each result checked.

kafka-python's flush() does not raise for failed sends, so callers that must know (the HTTP
intake answering 202, the outbox relay marking rows sent) wait on each send's future.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge in time; nothing may be reported as accepted."""


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

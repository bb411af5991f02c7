"""librdkafka (confluent-kafka) clients for the intake worker's hot path: its consumer and the producer that
relays ticket events and sends dead letters.

Why a second Kafka client: kafka-python decodes every fetched record and encodes every produced one in
Python; at thousands of reports a second that was a fifth of the worker's CPU (py-spy, decision 0009).
librdkafka does that work in C on threads of its own. The web processes, the admin and the command-line
tools keep kafka-python: they send one message at a time, and their broker-down behaviour is tested as it is.

The rules of the worker stay the same: auto-commit off, a fresh group starts from the earliest offset, no
topic auto-creation, offsets committed synchronously and only by the caller, after its database commit.
"""
from __future__ import annotations

import logging
from typing import NamedTuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streams.producer import HTTP_INTAKE_HEADER, BrokerUnavailable, Delivered

log = logging.getLogger(__name__)
_rdlog = logging.getLogger("rdkafka")


class Record(NamedTuple):
    """One consumed message, with the attributes the worker and the dead-letter builder read. (A tuple: the
    lifeline consumer makes tens of thousands a second, and a frozen dataclass costs twice as much to make.)"""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    via_http: bool = False  # published by HTTP intake (header streams.producer.HTTP_INTAKE_HEADER)


def to_record(m: Message) -> Record:
    headers = m.headers()
    return Record(m.topic(), m.partition(), m.offset(), m.key(), m.value(),
                  bool(headers) and any(k == HTTP_INTAKE_HEADER for k, _ in headers))


class UnknownTopic(KafkaException):
    """A subscribed topic is gone (deleted while the worker ran)."""


class IntakeConsumer:
    """A consumer group member that hands out batches and commits exactly what it is told."""

    def __init__(self, bootstrap: str, group: str, *, max_poll_interval_ms: int, session_timeout_ms: int,
                 client_id: str = "yunguan-worker") -> None:
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "allow.auto.create.topics": False,
            "enable.partition.eof": False,
            "max.poll.interval.ms": max_poll_interval_ms,
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": max(session_timeout_ms // 3, 100),
            # A fetch that waits for more data holds reports already in other partitions back; 50 ms keeps
            # p99 intake latency low at the cost of a few empty fetches per second when idle.
            "fetch.wait.max.ms": 50,
            # The prefetch queue: enough for several batches, bounded so a long backlog does not fill memory.
            "queued.max.messages.kbytes": 16384,
            "socket.nagle.disable": True,  # small requests (fetches, commits) must not wait for delayed ACKs
            "logger": _rdlog,
        })

    def existing_topics(self, timeout_s: float = 10.0) -> set[str]:
        try:
            return set(self._consumer.list_topics(timeout=timeout_s).topics)
        except KafkaException as exc:
            raise BrokerUnavailable(f"broker did not answer a metadata request: {exc}") from exc

    def subscribe(self, topics: list[str], on_assign=None, on_revoke=None) -> None:
        """`on_assign(partitions)` / `on_revoke(partitions)` get (topic, partition) pairs: the worker's own
        record of what it owns, logged and written to its heartbeat (the broker's view of members can be
        empty even for a healthy group on Tansu)."""
        def _pairs(partitions) -> list[tuple[str, int]]:
            return [(tp.topic, tp.partition) for tp in partitions]

        self._consumer.subscribe(
            topics,
            on_assign=(lambda _c, ps: on_assign(_pairs(ps))) if on_assign else None,
            on_revoke=(lambda _c, ps: on_revoke(_pairs(ps))) if on_revoke else None,
            on_lost=(lambda _c, ps: on_revoke(_pairs(ps))) if on_revoke else None,
        )

    def lag(self, partitions: list[tuple[str, int]]) -> list[dict]:
        """Per owned partition: the consumer's position, the end of the log, and the difference — from what the
        client already knows (its position and the high watermark of its last fetch response), so measuring
        costs no broker round trip and never holds up the loop. (Tansu's ListOffsets would be short anyway: it
        answers the last record batch's base offset + 1.) A partition not fetched yet shows lag 0."""
        if not partitions:
            return []
        out = []
        for tp in self._consumer.position([TopicPartition(t, p) for t, p in partitions]):
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            position = tp.offset if tp.offset >= 0 else None
            end = high if high >= 0 else None
            lag = max(0, end - position) if end is not None and position is not None else 0
            out.append({"topic": tp.topic, "partition": tp.partition, "position": position, "end": end,
                        "lag": lag})
        return out

    def poll_batch(self, max_records: int, timeout_s: float, linger_s: float = 0.0) -> list[Record]:
        """Up to `max_records` messages, waiting at most `timeout_s` for the first, then at most `linger_s`
        more for the batch to fill. Rebalances happen in here, so never between a batch and its commit."""
        return [to_record(m) for m in self.poll_messages(max_records, timeout_s, linger_s)]

    def poll_messages(self, max_records: int, timeout_s: float, linger_s: float = 0.0) -> list[Message]:
        """`poll_batch` without the Records: librdkafka's messages (read `.value()`; `to_record` when more is
        needed), for a consumer that handles tens of thousands a second and needs only their values."""
        # consume(n, timeout) waits for all n messages or the timeout; a report must not wait for a batch to
        # fill, so: what is prefetched already, else the first message to arrive and what came with it.
        messages = self._consumer.consume(max_records, 0)
        if not messages:
            first = self._consumer.poll(timeout_s)
            if first is None:
                return []
            messages = [first, *self._consumer.consume(max_records - 1, 0)] if max_records > 1 else [first]
        if linger_s > 0 and len(messages) < max_records:
            # The lifeline's readings: a fuller batch costs the same round trips as a small one.
            messages += self._consumer.consume(max_records - len(messages), linger_s)
        if any(m.error() is not None for m in messages):
            for m in messages:
                err = m.error()
                if err is None:
                    continue
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise UnknownTopic(err)
                if err.fatal() or not err.retriable():
                    raise KafkaException(err)
                log.warning("consumer: %s", err)  # the client retries by itself; say so in the log
            messages = [m for m in messages if m.error() is None]
        return messages

    def commit_consumed(self) -> None:
        """Commit, synchronously, past everything this consumer has handed out (its position in each assigned
        partition): for a caller that has applied every message of every batch it polled. Raises as `commit`."""
        positions = [tp for tp in self._consumer.position(self._consumer.assignment()) if tp.offset >= 0]
        if not positions:
            return
        done = self._consumer.commit(offsets=positions, asynchronous=False)
        failed = [tp for tp in done or () if tp.error is not None]
        if failed:
            raise KafkaException(failed[0].error)

    def commit(self, records: list[Record]) -> None:
        """Commit past the highest offset of each partition in `records`, synchronously; raise if the broker
        refused any (for example during a rebalance): the caller replays, and idempotence absorbs it."""
        last: dict[tuple[str, int], int] = {}
        for r in records:
            key = (r.topic, r.partition)
            if r.offset >= last.get(key, -1):
                last[key] = r.offset
        if not last:
            return
        done = self._consumer.commit(
            offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()], asynchronous=False)
        failed = [tp for tp in done or () if tp.error is not None]
        if failed:
            raise KafkaException(failed[0].error)

    def close(self) -> None:
        """Leave the group (the partitions go to the other members at once)."""
        self._consumer.close()


def make_producer(bootstrap: str, *, request_timeout_ms: int = 5000) -> Producer:
    """acks=all; a message not acknowledged within `request_timeout_ms` + 3 s fails instead of waiting the
    library's default five minutes, so the relay hands the failure to the worker loop (back off, replay)."""
    return Producer({
        "bootstrap.servers": bootstrap,
        "client.id": "yunguan-worker",
        "acks": "all",
        "linger.ms": 2,
        "enable.idempotence": False,
        "max.in.flight.requests.per.connection": 5,
        "request.timeout.ms": request_timeout_ms,
        "message.timeout.ms": request_timeout_ms + 3000,
        "socket.nagle.disable": True,
        "logger": _rdlog,
    })


def send_confirmed(producer: Producer, messages: list[tuple[str, bytes | None, bytes]],
                   timeout_s: float = 10.0) -> list[Delivered]:
    """Send (topic, key, value) triples and wait until the broker acknowledged every one (in the order the
    acknowledgements arrived); raise BrokerUnavailable otherwise. Thread-safe: each call counts its own."""
    acked: list[Delivered] = []
    errors: list[KafkaError] = []

    def on_delivery(err, msg) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append(Delivered(msg.topic(), msg.partition(), msg.offset()))

    try:
        for topic, key, value in messages:
            while True:
                try:
                    producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.1)
        producer.flush(timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailable(f"broker did not acknowledge: {exc}") from exc
    if errors:
        raise BrokerUnavailable(f"broker did not acknowledge {len(errors)} message(s): {errors[0]}")
    if len(acked) < len(messages):
        raise BrokerUnavailable(f"broker acknowledged {len(acked)} of {len(messages)} message(s) within "
                                f"{timeout_s:.0f} s")
    return acked

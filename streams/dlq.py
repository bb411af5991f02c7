"""Dead letters: the original bytes, where they came from, and a reason a person can act on."""
from __future__ import annotations

import base64
import json

from streams.producer import encode
from streams.topics import Topics


def dead_letter(topics: Topics, message, reason: str) -> tuple[str, bytes | None, bytes]:
    raw = message.value or b""
    try:
        raw_text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        raw_text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    body = {
        "schema": "dlq/1",
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "reason": reason,
        "raw": raw_text,
        "raw_encoding": encoding,
    }
    return topics.dlq, message.key, encode(body)


def original_bytes(letter: dict) -> bytes:
    if letter.get("raw_encoding") == "base64":
        return base64.b64decode(letter["raw"])
    return letter["raw"].encode("utf-8")


def read_letters(bootstrap: str, topics: Topics, group: str | None = None, idle_ms: int = 1500):
    """Yield (record, letter) from reports.dlq; with a group, only letters not yet handled by it."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
        allow_auto_create_topics=False, consumer_timeout_ms=idle_ms,
    )
    try:
        partitions = consumer.partitions_for_topic(topics.dlq)
        if not partitions:
            raise RuntimeError(f"topic {topics.dlq} does not exist; run `yunguan up`")
        if group:
            consumer.subscribe([topics.dlq])
        else:
            tps = [TopicPartition(topics.dlq, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
        for record in consumer:
            try:
                letter = json.loads(record.value)
            except (ValueError, TypeError):
                letter = {"reason": "unreadable dead letter", "raw": "", "topic": None}
            yield consumer, record, letter
    finally:
        consumer.close()

"""Dead letters: the original bytes, where they came from, and a reason a person can act on."""
from __future__ import annotations

import base64

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

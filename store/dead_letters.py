"""Which dead letters were replayed, and where to: a letter is re-published once, not once per command run."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

Key = tuple[str, int, int]  # (dlq topic, partition, offset)


def replayed(conn: Connection, keys: list[Key]) -> dict[Key, str]:
    """For each of `keys` already replayed: where its copy went ("topic[partition]@offset")."""
    if not keys:
        return {}
    rows = conn.execute(
        text('SELECT r.dlq_topic, r.dlq_partition, r.dlq_offset, r.topic, r.partition, r."offset" FROM dlq_replays r '
             "JOIN unnest(CAST(:t AS text[]), CAST(:p AS int[]), CAST(:o AS bigint[])) AS k(t, p, o) "
             "ON r.dlq_topic = k.t AND r.dlq_partition = k.p AND r.dlq_offset = k.o"),
        {"t": [k[0] for k in keys], "p": [k[1] for k in keys], "o": [k[2] for k in keys]}).all()
    return {(r.dlq_topic, r.dlq_partition, r.dlq_offset): f"{r.topic}[{r.partition}]@{r.offset}" for r in rows}


def record_replay(conn: Connection, letter: Key, topic: str, partition: int, offset: int) -> None:
    conn.execute(
        text('INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset, topic, partition, "offset") '
             "VALUES (:dt, :dp, :do, :t, :p, :o) ON CONFLICT (dlq_topic, dlq_partition, dlq_offset) DO UPDATE "
             'SET replayed_at = now(), topic = EXCLUDED.topic, partition = EXCLUDED.partition, "offset" = EXCLUDED."offset"'),
        {"dt": letter[0], "dp": letter[1], "do": letter[2], "t": topic, "p": partition, "o": offset})

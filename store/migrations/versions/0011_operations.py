"""Operations: worker heartbeats, and HTTP intake's record of the reports it answered 503.

`worker_heartbeats`: each intake worker writes one row every few seconds — the partitions it owns, its lag
per partition, when it last committed — so that `yunguan status`, `/readyz` and the console can tell a worker
that makes progress from one that is merely alive (a consumer group that never forms looks alive). Rows of
workers that stopped stay until overwritten or pruned, marked `stopped`.

`intake_log.refused_at`: HTTP intake answered 503 for this report because the broker did not acknowledge in
time. The message may still reach the topic later (the broker was only slow); the worker then skips it, so a
503 never becomes a ticket behind the caller's back. A retry with the same body clears the mark and publishes
again. The web and the worker serialize on the intake_log row (the web's FOR UPDATE against the worker's FOR
SHARE), so exactly one of "503, no ticket" and "ticket, answered 202" happens.

`dlq_replays`: which dead letters `yunguan dlq replay` re-published, and where to. A letter is replayed once
(again only with `--again`), and `yunguan dlq list` shows where each replayed letter went.

Revision ID: 0011_operations
Revises: 0010_audit_anchor
Create Date: 2026-11-30
"""
from alembic import op

revision = "0011_operations"
down_revision = "0010_audit_anchor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE worker_heartbeats (
            worker_id text PRIMARY KEY,
            group_id text NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            started_at timestamptz NOT NULL,
            beat_at timestamptz NOT NULL,
            state text NOT NULL CHECK (state IN ('starting', 'consuming', 'stuck', 'stopped')),
            reason text,
            partitions jsonb NOT NULL DEFAULT '[]'::jsonb,
            lag bigint,
            assigned_at timestamptz,
            committed_at timestamptz,
            stuck_since timestamptz,
            messages bigint NOT NULL DEFAULT 0,
            dead_letters bigint NOT NULL DEFAULT 0
        )
    """)
    op.execute("CREATE INDEX ix_worker_heartbeats_group ON worker_heartbeats (group_id, beat_at)")
    op.execute("ALTER TABLE intake_log ADD COLUMN refused_at timestamptz")
    op.execute("""
        CREATE TABLE dlq_replays (
            dlq_topic text NOT NULL,
            dlq_partition integer NOT NULL,
            dlq_offset bigint NOT NULL,
            replayed_at timestamptz NOT NULL DEFAULT now(),
            topic text NOT NULL,
            partition integer NOT NULL,
            "offset" bigint NOT NULL,
            PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
        )
    """)


def downgrade() -> None:
    op.execute("DROP TABLE dlq_replays")
    op.execute("ALTER TABLE intake_log DROP COLUMN refused_at")
    op.execute("DROP TABLE worker_heartbeats")

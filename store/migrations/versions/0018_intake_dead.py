"""A report accepted over HTTP that the worker later dead-lettered (it could not be stored, the same way,
`poison_tries` times): `dead_at` and `dead_reason` on its intake record, so that it is no reconcile gap for
ever, its status and its Open311 token say what happened, and nothing waits on it.

Revision ID: 0018_intake_dead
Revises: 0017_exchange
Create Date: 2026-11-30
"""
from alembic import op

revision = "0018_intake_dead"
down_revision = "0017_exchange"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE intake_log ADD COLUMN dead_at timestamptz, ADD COLUMN dead_reason text")


def downgrade() -> None:
    op.execute("ALTER TABLE intake_log DROP COLUMN dead_reason, DROP COLUMN dead_at")

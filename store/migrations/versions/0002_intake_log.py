"""Intake log: every report accepted over HTTP, for idempotent re-sends and reconciliation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_log",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("report_id", sa.String(64), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("envelope", JSONB, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        # NULL until the broker acknowledged the message: only acknowledged reports count as accepted.
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("republished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("channel", "report_id", name="intake_log_pkey"),
    )
    op.create_index(
        "ix_intake_log_accepted_at", "intake_log", ["accepted_at"], postgresql_where=sa.text("accepted_at IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_table("intake_log")

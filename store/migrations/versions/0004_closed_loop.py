"""The closed loop: ticket loop state, deadlines, joint handling, merge counts; history with party, data
and a per-ticket hash chain; the category table's standards and limits.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("loop", JSONB))  # dispatch.snapshot of the loop state
    op.add_column("tickets", sa.Column("priority", sa.String(8), nullable=False, server_default="normal"))
    op.add_column("tickets", sa.Column("grid_code", sa.String(32)))
    op.add_column("tickets", sa.Column("assist_codes", ARRAY(sa.String(32)), nullable=False, server_default="{}"))
    op.add_column("tickets", sa.Column("deadline_state", sa.String(8)))
    op.add_column("tickets", sa.Column("report_count", sa.Integer, nullable=False, server_default="1"))
    op.add_column("tickets", sa.Column("history_head", sa.String(64)))
    op.add_column("tickets", sa.Column("closed_at", sa.DateTime(timezone=True)))
    op.create_check_constraint("tickets_priority", "tickets", "priority IN ('normal', 'urgent')")
    op.create_index("ix_tickets_assist_codes", "tickets", ["assist_codes"], postgresql_using="gin")
    op.create_index("ix_tickets_grid_code", "tickets", ["grid_code"])
    # The deadline pass looks only at open tickets (merge candidates come from the GiST index on location).
    # The predicate mirrors dispatch.model.OPEN_STATUSES (all but FINAL_STATUSES).
    op.create_index("ix_tickets_open_deadline", "tickets", ["deadline"],
                    postgresql_where=sa.text("status NOT IN ('closed', 'rejected')"))

    op.add_column("ticket_history", sa.Column("party", sa.String(16)))
    op.add_column("ticket_history", sa.Column("data", JSONB))
    op.add_column("ticket_history", sa.Column("prev_hash", sa.String(64)))
    op.add_column("ticket_history", sa.Column("hash", sa.String(64)))

    # Bumped on logout, disable, or a change of role/unit/grid: tokens and sockets of the old epoch end.
    op.add_column("users", sa.Column("token_epoch", sa.Integer, nullable=False, server_default="0"))

    op.add_column("categories", sa.Column("time_basis", sa.String(8)))
    op.add_column("categories", sa.Column("urgent", sa.Boolean, nullable=False, server_default="false"))
    op.add_column("categories", sa.Column("unit_kind", sa.String(32)))
    op.add_column("categories", sa.Column("register_standard", sa.Text))
    op.add_column("categories", sa.Column("close_standard", sa.Text))
    op.add_column("categories", sa.Column("merge_distance_m", sa.Float))
    op.add_column("categories", sa.Column("merge_window_h", sa.Float))


def downgrade() -> None:
    for column in ("merge_window_h", "merge_distance_m", "close_standard", "register_standard", "unit_kind",
                   "urgent", "time_basis"):
        op.drop_column("categories", column)
    op.drop_column("users", "token_epoch")
    for column in ("hash", "prev_hash", "data", "party"):
        op.drop_column("ticket_history", column)
    op.drop_index("ix_tickets_open_deadline", "tickets")
    op.drop_index("ix_tickets_grid_code", "tickets")
    op.drop_index("ix_tickets_assist_codes", "tickets")
    op.drop_constraint("tickets_priority", "tickets")
    for column in ("closed_at", "history_head", "report_count", "deadline_state", "assist_codes", "grid_code",
                   "priority", "loop"):
        op.drop_column("tickets", column)

"""Areas, units, categories, users, tickets, reports, history, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "areas",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("parent_code", sa.String(32)),
        sa.Column("valid_from", sa.Date, nullable=False, server_default=sa.func.current_date()),
        sa.Column("valid_to", sa.Date),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint("level IN ('district', 'street', 'community', 'grid')", name="areas_level"),
    )
    op.create_index("ix_areas_level", "areas", ["level"])
    op.create_index("ix_areas_parent_code", "areas", ["parent_code"])
    op.create_index("ix_areas_geom", "areas", ["geom"], postgresql_using="gist")

    op.create_table(
        "units",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parent_code", sa.String(32), sa.ForeignKey("units.code")),
        sa.Column("area_code", sa.String(32)),
        sa.CheckConstraint("level IN ('city', 'district', 'street')", name="units_level"),
    )
    op.create_index("ix_units_area_code", "units", ["area_code"])

    op.create_table(
        "categories",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent", sa.String(16), sa.ForeignKey("categories.code")),
        sa.Column("ack_limit_h", sa.Float),
        sa.Column("handle_limit_h", sa.Float),
        sa.CheckConstraint("kind IN ('component', 'event')", name="categories_kind"),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("unit_code", sa.String(32), sa.ForeignKey("units.code")),
        sa.Column("grid_code", sa.String(32)),
        sa.Column("supervisor", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(  # mirrors dispatch.vocabulary.ACCOUNT_ROLES (migrations are history: literal lists)
            "role IN ('admin', 'operator', 'department', 'grid', 'hotline')", name="users_role"
        ),
    )

    op.create_table(
        "tickets",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("ticket_no", sa.String(32), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("category", sa.String(16)),
        sa.Column("description", sa.Text),
        sa.Column("address", sa.Text),
        sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False)),
        sa.Column("district_code", sa.String(32)),
        sa.Column("area", JSONB, nullable=False),
        sa.Column("assignee_code", sa.String(32), sa.ForeignKey("units.code")),
        sa.Column("routing", JSONB, nullable=False),
        sa.Column("deadline", TZ),
        sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(  # mirrors dispatch.model.Status
            "status IN ('pending', 'registered', 'dispatched', 'acknowledged', 'handled', 'verified', "
            "'closed', 'returned', 'rejected', 'suspended', 'reopened')",
            name="tickets_status",
        ),
        sa.CheckConstraint("version >= 1", name="tickets_version_positive"),
    )
    op.create_index("ix_tickets_status", "tickets", ["status"])
    op.create_index("ix_tickets_district_code", "tickets", ["district_code"])
    op.create_index("ix_tickets_assignee_code", "tickets", ["assignee_code"])
    op.create_index("ix_tickets_location", "tickets", ["location"], postgresql_using="gist")

    op.create_table(
        "reports",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("report_id", sa.String(64), nullable=False),
        sa.Column("reported_at", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("category", sa.String(16)),
        sa.Column("envelope", JSONB, nullable=False),
        sa.Column("ticket_id", sa.BigInteger, sa.ForeignKey("tickets.id")),
        sa.Column("source_topic", sa.Text, nullable=False),
        sa.Column("source_partition", sa.Integer, nullable=False),
        sa.Column("source_offset", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("channel", "report_id", name="reports_channel_report_id"),
        # mirrors dispatch.vocabulary.CHANNELS
        sa.CheckConstraint("channel IN ('grid', 'hotline', 'public', 'sensor')", name="reports_channel"),
    )
    op.create_index("ix_reports_ticket_id", "reports", ["ticket_id"])

    op.create_table(
        "ticket_history",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("ticket_id", sa.BigInteger, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_ticket_history_ticket_id", "ticket_history", ["ticket_id"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", TZ),
    )
    # The relay only ever looks at unsent rows; keep that index tiny.
    op.create_index("ix_outbox_unsent", "outbox", ["id"], postgresql_where=sa.text("sent_at IS NULL"))

    op.create_table(
        "ticket_day_sequence",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "ticket_day_sequence", "outbox", "ticket_history", "reports", "tickets", "users", "categories", "units", "areas",
    ):
        op.drop_table(table)

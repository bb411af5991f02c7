"""The responsibility matrix, special zones and the gazetteer for geocoding.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duties",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("unit", sa.String(64), nullable=False),  # a unit code or a pattern (street_office, district:<kind>)
        sa.Column("category", sa.String(16), nullable=False, server_default=""),
        sa.Column("area", sa.String(32)),
        sa.Column("zone", sa.String(16)),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "zones",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index("ix_zones_geom", "zones", ["geom"], postgresql_using="gist")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "places",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),  # road, community, landmark
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index("ix_places_geom", "places", ["geom"], postgresql_using="gist")
    op.execute("CREATE INDEX ix_places_name_trgm ON places USING gin (name gin_trgm_ops)")


def downgrade() -> None:
    op.drop_table("places")
    op.drop_table("zones")
    op.drop_table("duties")

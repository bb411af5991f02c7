"""Areas are versioned by validity dates: a re-load from a date closes the old polygons and keeps them.

A city redraws its grid cells every few years and a street can be split; tickets of last year must still
be explainable with last year's polygons, and a new grid must take effect on the day the city decides,
not when someone happened to run the loader. `code` is therefore unique per `valid_from`, not overall.

Revision ID: 0006_areas
Revises: 0005
Create Date: 2026-11-23
"""
from alembic import op

revision = "0006_areas"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("areas_code_key", "areas", type_="unique")
    op.create_unique_constraint("areas_code_valid_from", "areas", ["code", "valid_from"])
    op.create_check_constraint("areas_valid_range", "areas", "valid_to IS NULL OR valid_to > valid_from")
    op.create_index("ix_areas_level_valid", "areas", ["level", "valid_from", "valid_to"])


def downgrade() -> None:
    op.drop_index("ix_areas_level_valid", "areas")
    op.drop_constraint("areas_valid_range", "areas", type_="check")
    op.drop_constraint("areas_code_valid_from", "areas", type_="unique")
    op.execute("DELETE FROM areas WHERE valid_to IS NOT NULL")  # only the open versions fit the old shape
    op.create_unique_constraint("areas_code_key", "areas", ["code"])

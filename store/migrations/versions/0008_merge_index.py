"""Merge candidates through an index of open tickets by category and place.

Every report with a category and a location asks for open tickets of the same category within its merge
distance. Through the plain GiST index on `location` each probe visited every ticket in its box — closed
ones and other categories included — and computed a geodesic distance for them: at a bench's 30,000 tickets
that was 250 rows per probe and 84 ms per batch of 450, the largest statement of the intake worker, and it
only grows as closed tickets accumulate. A GiST index on (category, location) of the open tickets only
(btree_gist supplies the equality operator class for `category`) visits the handful that can merge.

Revision ID: 0008_merge_index
Revises: 0007_places
Create Date: 2026-11-29
"""
from alembic import op

revision = "0008_merge_index"
down_revision = "0007_places"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    # The predicate mirrors dispatch.model.OPEN_STATUSES (all but FINAL_STATUSES).
    op.execute("CREATE INDEX ix_tickets_open_category_location ON tickets USING gist (category, location) "
               "WHERE status NOT IN ('closed', 'rejected')")


def downgrade() -> None:
    op.execute("DROP INDEX ix_tickets_open_category_location")

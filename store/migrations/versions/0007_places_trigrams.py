"""Geocoding through indexes: each place keeps its trigram set, indexed, so an address is compared only with
the places that share a trigram with it, not with the whole gazetteer.

`name <% address` (word similarity of the short name within the long address) cannot use the GIN index on
the name: pg_trgm indexes the long text's side. A place's word similarity within an address is at most the
share of the name's trigrams that occur in the address, so "shares at least one trigram" (`trgm &&
show_trgm(address)`, which GIN answers) loses no match. Names contained in the address come from the
worker's in-memory list of names and are found by equality (btree on name).

Revision ID: 0007_places
Revises: 0006_areas
Create Date: 2026-11-24
"""
from alembic import op

revision = "0007_places"
down_revision = "0006_areas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE places ADD COLUMN trgm text[] GENERATED ALWAYS AS (show_trgm(name)) STORED")
    op.execute("CREATE INDEX ix_places_trgm ON places USING gin (trgm)")
    op.create_index("ix_places_name", "places", ["name"])


def downgrade() -> None:
    op.drop_index("ix_places_name", "places")
    op.execute("DROP INDEX ix_places_trgm")
    op.execute("ALTER TABLE places DROP COLUMN trgm")

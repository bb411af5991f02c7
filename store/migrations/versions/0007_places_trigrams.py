"""Geocoding through indexes: each place keeps its trigram set, indexed, so an address is compared only with
the places that share a trigram with it, not with the whole gazetteer.

`name <% address` (word similarity of the short name within the long address) cannot use the GIN index on
the name: pg_trgm indexes the long text's side. A place's word similarity within an address is at most the
share of the name's trigrams that occur in the address, so "shares at least one trigram" (`trgm && the
address's trigrams`, which the GIN index answers) loses no match. Names contained in the address come from
the worker's in-memory list of names and are found by equality (btree on name).

The query is a function because it needs one planner setting: on a gazetteer of a few hundred places the
planner rates a sequential scan (an array overlap per place, per address) as cheap as the index, and it is
40 times slower. `SET enable_seqscan = off` on the function keeps that choice out of the plan, whatever the
statistics say, and nowhere else. The indexes skip GIN's pending list (fastupdate off): places change
rarely, and a pending list is scanned linearly by every lookup until vacuum merges it.

Revision ID: 0007_places
Revises: 0006_areas
Create Date: 2026-11-24
"""
from alembic import op

revision = "0007_places"
down_revision = "0006_areas"
branch_labels = None
depends_on = None

GEOCODE_CANDIDATES = """
CREATE OR REPLACE FUNCTION geocode_candidates(addresses jsonb)
RETURNS TABLE (idx int, name text, kind text, score real, lon float8, lat float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET enable_seqscan = off
AS $$
SELECT q.idx, c.name, c.kind, c.score, c.lon, c.lat
FROM (SELECT r.idx, r.address, coalesce(r.contained, '{}') AS contained, show_trgm(r.address) AS trgm
      FROM jsonb_to_recordset(addresses) AS r(idx int, address text, contained text[])
      OFFSET 0) AS q  -- computes each address's trigrams once, not once per place
CROSS JOIN LATERAL (
  SELECT m.name, m.kind, m.score, ST_X(ST_PointOnSurface(m.geom)) AS lon, ST_Y(ST_PointOnSurface(m.geom)) AS lat
  FROM (SELECT p.id, p.name, p.kind, p.geom, 1.0::real AS score FROM places p WHERE p.name = ANY(q.contained)
        UNION ALL
        SELECT s.id, s.name, s.kind, s.geom, word_similarity(s.name, q.address) FROM places s
        WHERE s.trgm && q.trgm AND NOT (s.name = ANY(q.contained))
          AND CASE WHEN s.trgm && q.trgm THEN s.name <% q.address ELSE false END) AS m
  ORDER BY m.score DESC, length(m.name) DESC, m.id
  LIMIT 5) AS c
ORDER BY q.idx, c.score DESC, length(c.name) DESC
$$
"""


def upgrade() -> None:
    op.execute("ALTER TABLE places ADD COLUMN trgm text[] GENERATED ALWAYS AS (show_trgm(name)) STORED")
    op.execute("CREATE INDEX ix_places_trgm ON places USING gin (trgm) WITH (fastupdate = off)")
    op.execute("ALTER INDEX ix_places_name_trgm SET (fastupdate = off)")
    op.execute("SELECT gin_clean_pending_list('ix_places_name_trgm')")
    op.create_index("ix_places_name", "places", ["name"])
    op.execute(GEOCODE_CANDIDATES)


def downgrade() -> None:
    op.execute("DROP FUNCTION geocode_candidates(jsonb)")
    op.drop_index("ix_places_name", "places")
    op.execute("ALTER INDEX ix_places_name_trgm RESET (fastupdate)")
    op.execute("DROP INDEX ix_places_trgm")
    op.execute("ALTER TABLE places DROP COLUMN trgm")

"""Look-ups for forms that suggest as one types: gazetteer places by name, and units with their district,
ranked for dispatching a ticket. Each answers from indexes, because it runs once per keystroke."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from store.areas import valid_on

AREA_LEVELS = ("district", "street", "community", "grid")
PREFIX_ONLY_BELOW = 3  # characters: a shorter text has no trigram of its own inside a name (see `places`)


def like_pattern(raw: str) -> str:
    """`raw` as literal text inside a LIKE pattern (backslash is PostgreSQL's default escape)."""
    return raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Which names match: a prefix always; from three characters on, a stretch anywhere in the name, or a near miss
# (trigram word similarity of the typed text within the name, pg_trgm's `<%`, threshold 0.6). Each of the three
# is answered by the GIN trigram index on the name (ix_places_name_trgm): LIKE 'ab%' gives the trigrams of a
# word start ("  a", " ab"); a pattern without three characters of its own (LIKE '%ab%') gives none, and
# would read the whole index or table, so it is not asked. Ranking: the exact name, then prefixes, then
# stretches, then near misses; within each the more similar, then the shorter name.
# The areas are those containing the whole place (a road through two districts has no district) and valid
# today; lon/lat is a point on the place, as geocoding gives it.
_PLACES = """
SELECT p.name, p.kind, ST_X(ST_PointOnSurface(p.geom)) AS lon, ST_Y(ST_PointOnSurface(p.geom)) AS lat,
       (SELECT jsonb_object_agg(a.level, jsonb_build_object('code', a.code, 'name', a.name))
        FROM areas a WHERE {valid} AND a.geom && p.geom AND ST_Covers(a.geom, p.geom)) AS area
FROM (SELECT m.id, m.name, m.kind, m.geom,
             CASE WHEN lower(m.name) = lower(:q) THEN 0 WHEN m.name ILIKE :prefix THEN 1
                  WHEN m.name ILIKE :infix THEN 2 ELSE 3 END AS rank,
             word_similarity(:q, m.name) AS score
      FROM places m WHERE {match}
      ORDER BY rank, score DESC, length(m.name), m.name, m.id LIMIT :limit) AS p
ORDER BY p.rank, p.score DESC, length(p.name), p.name, p.id
"""
_MATCH_PREFIX = "m.name ILIKE :prefix"
_MATCH_ANY = "(m.name ILIKE :prefix OR m.name ILIKE :infix OR :q <% m.name)"


def places_query(q: str, limit: int, on: date) -> tuple[Any, dict]:
    """The statement and parameters of `places` (the tests read its plan)."""
    match = _MATCH_PREFIX if len(q) < PREFIX_ONLY_BELOW else _MATCH_ANY
    sql = text(_PLACES.format(valid=valid_on("a"), match=match))
    pattern = like_pattern(q)
    return sql, {"q": q, "prefix": pattern + "%", "infix": "%" + pattern + "%", "limit": limit, "on": on}


def places(conn: Connection, q: str, limit: int, on: date) -> list[dict]:
    """Gazetteer places whose name matches the typed text `q`, best first, with the areas they lie in.
    The planner is told not to read the table through: on a gazetteer of a few hundred names it rates a
    sequential scan as cheap as the index, which stops being true as the gazetteer grows (migration 0007).
    Runs in a transaction of its own (SET LOCAL): pass a connection that is not in one."""
    if not any(ch.isalnum() for ch in q):
        return []  # no letter, digit or character: no trigram to look up, and no name is only punctuation
    sql, params = places_query(q, limit, on)
    with conn.begin():
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = conn.execute(sql, params).all()
    return [{"name": r.name, "kind": r.kind, "lon": r.lon, "lat": r.lat,
             "area": {level: (r.area or {}).get(level) for level in AREA_LEVELS}} for r in rows]


# A unit's district: the nearest unit up its parent chain (itself first) that has an area, then that area or
# its parents up to the district level (areas nest district > street > community > grid: at most three steps),
# with the polygons valid on :on. A street office (area: its street) is in the street's district; a district
# branch (area: the district) in it; city units (no area up the chain) in none. The climb stops at the first
# area, and a bounded depth keeps a cycle in bad data from running away. Written without a recursive walk of
# the areas: its row estimates grew so large that PostgreSQL compiled the query (JIT), 40 ms of 50.
_UNIT_DISTRICTS = """
WITH RECURSIVE chain(unit, area_code, parent_code, depth) AS (
  SELECT code, area_code, parent_code, 0 FROM units
  UNION ALL
  SELECT c.unit, u.area_code, u.parent_code, c.depth + 1 FROM chain c JOIN units u ON u.code = c.parent_code
  WHERE c.area_code IS NULL AND c.depth < 8
), current_areas AS (
  SELECT code, name, level, parent_code FROM areas a WHERE {a_on}
), unit_district AS (
  SELECT c.unit,
         CASE 'district' WHEN a0.level THEN a0.code WHEN a1.level THEN a1.code WHEN a2.level THEN a2.code
                         WHEN a3.level THEN a3.code END AS district_code,
         CASE 'district' WHEN a0.level THEN a0.name WHEN a1.level THEN a1.name WHEN a2.level THEN a2.name
                         WHEN a3.level THEN a3.name END AS district_name
  FROM chain c JOIN current_areas a0 ON a0.code = c.area_code
  LEFT JOIN current_areas a1 ON a1.code = a0.parent_code
  LEFT JOIN current_areas a2 ON a2.code = a1.parent_code
  LEFT JOIN current_areas a3 ON a3.code = a2.parent_code
)
"""


def _district(row) -> dict | None:
    return {"code": row.district_code, "name": row.district_name} if row.district_code else None


def units(conn: Connection, on: date) -> list[dict]:
    """Every unit, as the contract lists them, with its district ({code, name} or null)."""
    rows = conn.execute(text(_UNIT_DISTRICTS.format(a_on=valid_on("a")) + (
        "SELECT u.code, u.name, u.level, u.kind, u.parent_code, d.district_code, d.district_name "
        "FROM units u LEFT JOIN unit_district d ON d.unit = u.code ORDER BY u.code")), {"on": on}).all()
    return [{"code": r.code, "name": r.name, "level": r.level, "kind": r.kind, "parent": r.parent_code,
             "district": _district(r)} for r in rows]


LEVEL_ORDER = "CASE u.level WHEN 'city' THEN 0 WHEN 'district' THEN 1 WHEN 'street' THEN 2 ELSE 3 END"


def unit_suggestions(conn: Connection, *, duty_unit: str | None, duty_rule: str | None, district: str | None,
                     q: str | None, limit: int, on: date) -> list[dict]:
    """Units ranked for dispatching a ticket: the duty matrix's unit (`reason` duty, with its `rule`), the
    units of the ticket's district (district), then the rest (other); `q` keeps those whose name or code
    contains it. `cross_district`: the unit lies in another district than the ticket's (a unit without a
    district, such as a city department, never does; nor does any unit when the ticket has no district)."""
    params: dict[str, Any] = {"on": on, "duty": duty_unit, "district": district, "limit": limit}
    where = "TRUE"
    if q:
        where = "(u.name ILIKE :pattern OR u.code ILIKE :pattern)"
        params["pattern"] = "%" + like_pattern(q) + "%"
    rows = conn.execute(text(_UNIT_DISTRICTS.format(a_on=valid_on("a")) + (
        "SELECT u.code, u.name, u.level, u.kind, d.district_code, d.district_name, "
        "CASE WHEN u.code = :duty THEN 0 WHEN d.district_code = :district THEN 1 ELSE 2 END AS tier "
        "FROM units u LEFT JOIN unit_district d ON d.unit = u.code "
        f"WHERE {where} ORDER BY tier, {LEVEL_ORDER}, u.code LIMIT :limit")), params).all()
    reasons = ("duty", "district", "other")
    return [{"code": r.code, "name": r.name, "level": r.level, "kind": r.kind, "district": _district(r),
             "reason": reasons[r.tier], "rule": duty_rule if r.tier == 0 else None,
             "cross_district": bool(district and r.level != "city" and r.district_code
                                    and r.district_code != district)}
            for r in rows]

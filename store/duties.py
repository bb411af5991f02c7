"""The responsibility matrix, special zones and the gazetteer in PostGIS; each replaced atomically and
announced with NOTIFY so that routers in every process reload."""
from __future__ import annotations

from dataclasses import dataclass

from shapely import wkb
from shapely.geometry.base import BaseGeometry
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from gis.duties import Rule, UnitInfo, Zone

CHANNEL = "yunguan_areas"  # one channel for everything the router holds


def replace_rules(conn: Connection, rules: list[Rule]) -> int:
    conn.execute(text("DELETE FROM duties"))
    if rules:
        conn.execute(text("INSERT INTO duties (name, unit, category, area, zone, priority) "
                          "VALUES (:name, :unit, :category, :area, :zone, :priority)"),
                     [{"name": r.name, "unit": r.unit, "category": r.category, "area": r.area, "zone": r.zone,
                       "priority": r.priority} for r in rules])
    conn.execute(text("SELECT pg_notify(:c, 'duties')"), {"c": CHANNEL})
    return len(rules)


def replace_zones(conn: Connection, zones: list[Zone]) -> int:
    conn.execute(text("DELETE FROM zones"))
    if zones:
        conn.execute(text(
            "INSERT INTO zones (code, name, kind, geom) VALUES (:code, :name, :kind, "
            "ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromWKB(:wkb, 4326)), 3)))"),
            [{"code": z.code, "name": z.name, "kind": z.kind, "wkb": z.geometry.wkb} for z in zones])
    conn.execute(text("SELECT pg_notify(:c, 'zones')"), {"c": CHANNEL})
    return len(zones)


def load_rules(conn: Connection) -> list[Rule]:
    return [Rule(r.name, r.unit, r.category, r.area, r.zone, r.priority) for r in conn.execute(
        text("SELECT name, unit, category, area, zone, priority FROM duties ORDER BY id"))]


def load_zones(conn: Connection) -> list[Zone]:
    return [Zone(r.code, r.name, r.kind, wkb.loads(bytes(r.wkb))) for r in conn.execute(
        text("SELECT code, name, kind, ST_AsBinary(geom) AS wkb FROM zones ORDER BY code"))]


def load_units(conn: Connection) -> list[UnitInfo]:
    return [UnitInfo(r.code, r.name, r.level, r.kind, r.area_code) for r in conn.execute(
        text("SELECT code, name, level, kind, area_code FROM units ORDER BY code"))]


def default_kinds(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(text("SELECT code, unit_kind FROM categories WHERE unit_kind IS NOT NULL")).all())


@dataclass(frozen=True)
class Place:
    name: str
    kind: str  # road, community, landmark
    geometry: BaseGeometry  # WGS-84 point or line


def replace_places(conn: Connection, places: list[Place]) -> int:
    conn.execute(text("DELETE FROM places"))
    if places:
        conn.execute(text("INSERT INTO places (name, kind, geom) VALUES (:name, :kind, ST_GeomFromWKB(:wkb, 4326))"),
                     [{"name": p.name, "kind": p.kind, "wkb": p.geometry.wkb} for p in places])
    # Fresh statistics at once: without them the planner compares every place with every address
    # (a sequential scan) until autovacuum gets round to it.
    conn.execute(text("ANALYZE places"))
    conn.execute(text("SELECT pg_notify(:c, 'places')"), {"c": CHANNEL})  # workers reload their list of names
    return len(places)


# Per address: the places whose names it contains (score 1; the caller finds them in its list of names) and
# the places whose name is trigram-similar to a stretch of it, pre-selected through the GIN index on their
# trigram sets (a place sharing no trigram with the address cannot be similar). The SQL is the function
# geocode_candidates of migration 0007.
_GEOCODE = text("SELECT idx, name, kind, score, lon, lat FROM geocode_candidates(:rows)").bindparams(
    bindparam("rows", type_=JSONB))


def place_names(conn: Connection) -> tuple[str, ...]:
    """Every name in the gazetteer: what the worker looks for inside addresses."""
    return tuple(conn.execute(text("SELECT DISTINCT name FROM places ORDER BY name")).scalars())


def contained_names(address: str, names: tuple[str, ...]) -> list[str]:
    """The gazetteer names that occur in the address (PostgreSQL's strpos(address, name) > 0), in memory:
    a substring test per name is cheap here and impossible for an index there."""
    return [n for n in names if n in address]


def geocode(conn: Connection, addresses: list[tuple[int, str]],
            names: tuple[str, ...] | None = None) -> dict[int, list[dict]]:
    """Up to five gazetteer candidates per address, best first, with a score in [0, 1] and a WGS-84 point.
    Chinese addresses have no spaces, so pg_trgm's word boundaries do not help: a name contained in the
    address scores 1; otherwise trigram word similarity catches small variations (a wrong or missing
    character), and the strict `choose` rule keeps those from routing on their own."""
    out: dict[int, list[dict]] = {}
    if not addresses:
        return out
    if names is None:
        names = place_names(conn)
    rows = conn.execute(_GEOCODE, {"rows": [{"idx": i, "address": a, "contained": contained_names(a, names)}
                                            for i, a in addresses]})
    for r in rows:
        out.setdefault(r.idx, []).append({"name": r.name, "kind": r.kind, "score": round(float(r.score), 3),
                                          "lon": r.lon, "lat": r.lat})
    return out

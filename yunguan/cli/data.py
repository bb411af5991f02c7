"""Reference data: areas, the responsibility matrix, special zones, the gazetteer, categories; routing."""
from __future__ import annotations

import itertools
import json
import sys
from datetime import date
from pathlib import Path

from config import Settings
from yunguan.cli.common import UsageError, say, wiring


def cmd_areas_load(settings: Settings, args) -> int:
    from gis.areas import AreaFileError, city_today, read_areas
    from store.areas import check_level, replace_level
    from store.db import make_engine

    valid_from = city_today(settings.timezone)
    if args.valid_from:
        try:
            valid_from = date.fromisoformat(args.valid_from)
        except ValueError:
            raise UsageError(f"--valid-from must be a date YYYY-MM-DD, got {args.valid_from!r}") from None
    try:
        areas = read_areas(Path(args.path), args.level, args.crs, args.code_field, args.name_field, args.parent_field)
    except AreaFileError as exc:
        raise UsageError(str(exc)) from None
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:  # the old level stays visible to every reader until this commits
            count = replace_level(conn, args.level, areas, valid_from)
            report = check_level(conn, args.level, valid_from)
    finally:
        engine.dispose()
    print(json.dumps({"level": args.level, "loaded": count, "crs": args.crs, "valid_from": valid_from.isoformat(),
                      **report}, ensure_ascii=False))
    problems = sum(len(v) for v in report.values())
    if problems:
        say(f"areas: loaded, but {problems} problem(s) to look at (missing or exceeded parents, overlaps, gaps)",
            err=True)
    return 0


def _read_rules(path: Path):
    from gis.duties import RuleError, parse_rules

    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            rows = data.get("rules") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise UsageError(f"{path}: a YAML matrix needs a list under `rules:`")
        elif path.suffix.lower() == ".csv":
            import csv

            with open(path, encoding="utf-8-sig", newline="") as f:
                rows = list(csv.DictReader(f))
        else:
            raise UsageError(f"{path}: give a .yaml or .csv matrix")
        return parse_rules(rows)
    except (OSError, RuleError) as exc:
        raise UsageError(f"{path}: {exc}") from None


def cmd_duties_load(settings: Settings, args) -> int:
    import yaml
    from sqlalchemy import text

    from store.db import make_engine
    from store.duties import replace_rules

    path = Path(args.path)
    try:
        rules = _read_rules(path)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            units = {r[0] for r in conn.execute(text("SELECT code FROM units"))}
            unknown = [f"{r.name} → {r.unit}" for r in rules
                       if ":" not in r.unit and r.unit != "street_office" and r.unit not in units]
            if unknown:
                raise UsageError(f"{path}: rule(s) name units that do not exist: {'; '.join(unknown)}")
            count = replace_rules(conn, rules)
    finally:
        engine.dispose()
    say(json.dumps({"rules": count}, ensure_ascii=False))
    return 0


def _features(path: Path, crs: str) -> list[tuple[dict, object]]:
    from shapely.geometry import shape

    from gis.crs import geometry_to_wgs84

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        features = data["features"]
        return [(f.get("properties") or {}, geometry_to_wgs84(shape(f["geometry"]), crs)) for f in features]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: not a usable GeoJSON FeatureCollection: {exc}") from None


def cmd_zones_load(settings: Settings, args) -> int:
    from shapely.geometry import MultiPolygon

    from gis.duties import ZONE_KINDS, Zone
    from store.db import make_engine
    from store.duties import replace_zones

    zones = []
    for i, (props, geom) in enumerate(_features(Path(args.path), args.crs)):
        kind = props.get("kind")
        if not props.get("code") or not props.get("name") or kind not in ZONE_KINDS:
            raise UsageError(f"{args.path}: feature {i} needs code, name and kind (one of {', '.join(ZONE_KINDS)})")
        if geom.geom_type in ("LineString", "MultiLineString"):  # a road or a railway: its corridor
            geom = geom.buffer(args.buffer_m / 80_000, cap_style="flat")
        polys = getattr(geom, "geoms", [geom])
        zones.append(Zone(str(props["code"]), str(props["name"]), kind, MultiPolygon(list(polys))))
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            count = replace_zones(conn, zones)
    finally:
        engine.dispose()
    say(json.dumps({"zones": count}, ensure_ascii=False))
    return 0


def cmd_places_load(settings: Settings, args) -> int:
    from store.db import make_engine
    from store.duties import Place, replace_places

    places = []
    for i, (props, geom) in enumerate(_features(Path(args.path), args.crs)):
        if not props.get("name") or props.get("kind") not in ("road", "community", "landmark"):
            raise UsageError(f"{args.path}: feature {i} needs name and kind (road, community or landmark)")
        places.append(Place(str(props["name"]), props["kind"], geom))
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            count = replace_places(conn, places)
    finally:
        engine.dispose()
    say(json.dumps({"places": count}, ensure_ascii=False))
    return 0


def cmd_categories_load(settings: Settings, args) -> int:
    from dispatch.errors import TaxonomyError
    from yunguan.demo import load_categories

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    deps = wiring(settings)
    try:
        count = load_categories(deps.engine, path)
    except TaxonomyError as exc:
        raise UsageError(str(exc)) from None
    finally:
        deps.close()
    say(f"categories: {count} loaded from {path}")
    return 0


def cmd_route(settings: Settings, args) -> int:
    from application.routing import RoutingCache, decide_route, decide_routes
    from gis.crs import OutsideChina, to_wgs84
    from store.db import make_engine

    if args.input is None and (args.lon is None or args.lat is None):
        raise UsageError("give --lon and --lat, or --input FILE")
    engine = make_engine(settings.database_url)
    try:
        ctx = RoutingCache.from_settings(engine, settings)()
    finally:
        engine.dispose()
    if args.input is None:
        try:
            lon, lat = to_wgs84(args.lon, args.lat, args.crs)
        except OutsideChina as exc:
            raise UsageError(str(exc)) from None
        say(json.dumps(decide_route(ctx, lon, lat, args.category), ensure_ascii=False))
        return 0
    import csv

    stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8", newline="")
    out = sys.stdout
    with stream:
        reader = csv.DictReader(stream)
        if not reader.fieldnames or not {"lon", "lat"} <= set(reader.fieldnames):
            raise UsageError("the CSV needs a header with lon,lat[,crs][,category]")
        while True:  # in chunks: the placements of a chunk are computed together (Router.place_many)
            chunk = list(itertools.islice(reader, 10_000))
            if not chunk:
                break
            rows, decisions = [], []
            for line_no, row in enumerate(chunk, start=reader.line_num - len(chunk) + 1):
                try:
                    lon, lat = to_wgs84(float(row["lon"]), float(row["lat"]), row.get("crs") or args.crs)
                    rows.append((lon, lat, row.get("category") or args.category))
                    decisions.append(None)
                except (ValueError, TypeError, OutsideChina) as exc:
                    decisions.append({"error": {"line": line_no, "message": str(exc)}})
            routed = iter(decide_routes(ctx, rows))
            out.write("".join(json.dumps(d if d is not None else next(routed), ensure_ascii=False) + "\n"
                              for d in decisions))
    return 0

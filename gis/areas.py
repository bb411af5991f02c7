"""Administrative areas as plain values, and reading them from GeoJSON files."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from gis.crs import Crs, geometry_to_wgs84

LEVELS = ("district", "street", "community", "grid")


class AreaFileError(ValueError):
    pass


def city_today(timezone: str, now: datetime | None = None) -> date:
    """The city's calendar day, on which area validity turns: a grid that takes effect on 1 January does so
    at midnight in Changchun, not at midnight UTC."""
    return (now or datetime.now(ZoneInfo(timezone))).astimezone(ZoneInfo(timezone)).date()


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    level: str
    parent_code: str | None
    geometry: BaseGeometry  # WGS-84 MultiPolygon


def _as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    raise AreaFileError(f"expected a Polygon or MultiPolygon, got {geom.geom_type}")


def read_geojson(
    path: Path,
    level: str,
    crs: Crs | str = Crs.WGS84,
    code_field: str = "code",
    name_field: str = "name",
    parent_field: str | None = None,
) -> list[Area]:
    """Read a FeatureCollection; every feature needs a code and a name. Coordinates become WGS-84."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AreaFileError(f"{path}: cannot read GeoJSON: {exc}") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not features:
        raise AreaFileError(f"{path}: not a GeoJSON FeatureCollection with features")
    rows = [(f.get("properties") or {}, f.get("geometry")) for f in features]
    return _areas(path, rows, level, crs, code_field, name_field, parent_field)


def read_shapefile(
    path: Path,
    level: str,
    crs: Crs | str = Crs.WGS84,
    code_field: str = "code",
    name_field: str = "name",
    parent_field: str | None = None,
) -> list[Area]:
    """Read a Shapefile (.shp with its .dbf; the .cpg names the text encoding, GBK is common in China)."""
    import shapefile

    path = Path(path)
    cpg = path.with_suffix(".cpg")
    encodings = [cpg.read_text().strip()] if cpg.exists() else ["utf-8", "gbk"]
    last: Exception | None = None
    for encoding in encodings:
        try:
            with shapefile.Reader(str(path), encoding=encoding) as reader:
                rows = [(rec.record.as_dict(), rec.shape.__geo_interface__) for rec in reader.iterShapeRecords()]
            break
        except UnicodeDecodeError as exc:
            last = exc
        except (shapefile.ShapefileException, OSError) as exc:
            raise AreaFileError(f"{path}: cannot read the Shapefile: {exc}") from None
    else:
        raise AreaFileError(f"{path}: attribute text is neither of {encodings}; add a .cpg file ({last})")
    if not rows:
        raise AreaFileError(f"{path}: the Shapefile has no shapes")
    return _areas(path, rows, level, crs, code_field, name_field, parent_field)


def read_areas(path: Path, level: str, crs: Crs | str = Crs.WGS84, code_field: str = "code",
               name_field: str = "name", parent_field: str | None = None) -> list[Area]:
    suffix = Path(path).suffix.lower()
    if suffix in (".geojson", ".json"):
        return read_geojson(path, level, crs, code_field, name_field, parent_field)
    if suffix == ".shp":
        return read_shapefile(path, level, crs, code_field, name_field, parent_field)
    raise AreaFileError(f"{path}: give a GeoJSON (.geojson, .json) or Shapefile (.shp) file")


def _areas(path, rows, level, crs, code_field, name_field, parent_field) -> list[Area]:
    if level not in LEVELS:
        raise AreaFileError(f"level must be one of {LEVELS}, got {level!r}")
    try:
        crs = Crs(crs)
    except ValueError:
        raise AreaFileError(f"unknown crs {crs!r}; one of {', '.join(Crs)}") from None
    areas = []
    seen: set[str] = set()
    for index, (props, geometry) in enumerate(rows):
        code = props.get(code_field)
        name = props.get(name_field)
        if not code or not name:
            raise AreaFileError(
                f"{path}: feature {index} lacks {code_field!r} or {name_field!r} "
                f"(properties: {sorted(props)}); choose fields with --code-field/--name-field"
            )
        code = str(code).strip()
        if code in seen:
            raise AreaFileError(f"{path}: code {code} appears twice")
        seen.add(code)
        try:
            geom = _as_multipolygon(shape(geometry))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AreaFileError(f"{path}: feature {index} ({code}) has no usable geometry: {exc}") from None
        parent = props.get(parent_field) if parent_field else None
        try:
            wgs = geometry_to_wgs84(geom, crs)
        except ValueError as exc:
            raise AreaFileError(f"{path}: feature {index} ({code}): {exc}") from None
        areas.append(Area(code, str(name).strip(), level, str(parent).strip() if parent else None, wgs))
    return areas

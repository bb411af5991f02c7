"""Administrative areas as plain values, and reading them from GeoJSON files."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from gis.crs import Crs, geometry_to_wgs84

LEVELS = ("district", "street", "community", "grid")


class AreaFileError(ValueError):
    pass


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
    if level not in LEVELS:
        raise AreaFileError(f"level must be one of {LEVELS}, got {level!r}")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AreaFileError(f"{path}: cannot read GeoJSON: {exc}") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not features:
        raise AreaFileError(f"{path}: not a GeoJSON FeatureCollection with features")
    areas = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        props = feature.get("properties") or {}
        code = props.get(code_field)
        name = props.get(name_field)
        if not code or not name:
            raise AreaFileError(
                f"{path}: feature {index} lacks {code_field!r} or {name_field!r} "
                f"(properties: {sorted(props)}); choose fields with --code-field/--name-field"
            )
        code = str(code)
        if code in seen:
            raise AreaFileError(f"{path}: code {code} appears twice")
        seen.add(code)
        try:
            geom = _as_multipolygon(shape(feature["geometry"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AreaFileError(f"{path}: feature {index} ({code}) has no usable geometry: {exc}") from None
        parent = props.get(parent_field) if parent_field else None
        areas.append(Area(code, str(name), level, str(parent) if parent else None, geometry_to_wgs84(geom, crs)))
    return areas

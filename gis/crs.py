"""Normalise the coordinate systems Chinese devices and data use to WGS-84 (storage and API).

Phones send WGS-84 (GPS), GCJ-02 (AMap SDK) or BD-09 (Baidu SDK); surveyed data is CGCS2000.
GCJ-02 and BD-09 are obfuscations without an EPSG code, so prcoords inverts them (the "bored"
iterative inverse, sub-centimetre); CGCS2000 goes through pyproj.
"""
from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

import prcoords


class Crs(StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"
    CGCS2000 = "cgcs2000"


# Mainland China with its islands, generous: a point outside is surely a device or typing error.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)  # min lon, min lat, max lon, max lat


class OutsideChina(ValueError):
    pass


def in_china_bounds(lon: float, lat: float) -> bool:
    min_lon, min_lat, max_lon, max_lat = CHINA_BOUNDS
    return min_lon <= lon <= max_lon and min_lat <= lat <= max_lat


@lru_cache(maxsize=1)
def _cgcs2000_to_wgs84():
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4490", "EPSG:4326", always_xy=True)


def to_wgs84(lon: float, lat: float, crs: Crs | str) -> tuple[float, float]:
    """Return (lon, lat) in WGS-84; raise OutsideChina for a point outside China's range."""
    crs = Crs(crs)
    if not in_china_bounds(lon, lat):
        raise OutsideChina(
            f"point ({lon}, {lat}) is outside China's range "
            f"(longitude {CHINA_BOUNDS[0]}–{CHINA_BOUNDS[2]}, latitude {CHINA_BOUNDS[1]}–{CHINA_BOUNDS[3]}); "
            "check that longitude and latitude are not swapped"
        )
    if crs is Crs.WGS84:
        return lon, lat
    if crs is Crs.GCJ02:
        out = prcoords.gcj_wgs_bored((lat, lon), check_china=False)
        return out.lon, out.lat
    if crs is Crs.BD09:
        out = prcoords.bd_wgs_bored((lat, lon), check_china=False)
        return out.lon, out.lat
    x, y = _cgcs2000_to_wgs84().transform(lon, lat)
    return x, y


def geometry_to_wgs84(geometry, crs: Crs | str):
    """Transform every vertex of a Shapely geometry to WGS-84 (for GCJ-02 area files from AMap)."""
    from shapely.ops import transform

    crs = Crs(crs)
    if crs is Crs.WGS84:
        return geometry

    def _one(x, y, z=None):
        if hasattr(x, "__len__"):
            pairs = [to_wgs84(float(a), float(b), crs) for a, b in zip(x, y, strict=False)]
            return [p[0] for p in pairs], [p[1] for p in pairs]
        return to_wgs84(x, y, crs)

    return transform(_one, geometry)

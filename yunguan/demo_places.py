"""Demo special zones and gazetteer for Changchun: approximate shapes (示意), not surveyed boundaries.

The parks, campus, railway and trunk road are placed where they are in the city but drawn as simple boxes
and lines; the road lines follow the real roads only roughly. A city loads its own with `yunguan duties
load` / `yunguan places load`.
"""
from __future__ import annotations

from shapely.geometry import LineString, MultiPolygon, box

from gis.areas import Area
from gis.duties import Zone
from store.duties import Place

_LON_M = 1 / 80_500  # degrees of longitude per metre at 43.9° N
_LAT_M = 1 / 111_100

ZONES = [
    Zone("Z-PARK-NANHU", "南湖公园（示意范围）", "park", MultiPolygon([box(125.2930, 43.8480, 125.3130, 43.8620)])),
    Zone("Z-PARK-SHENGLI", "胜利公园（示意范围）", "park", MultiPolygon([box(125.3290, 43.8980, 125.3380, 43.9060)])),
    Zone("Z-CAMPUS-JLU", "吉林大学前卫校区（示意范围）", "campus", MultiPolygon([box(125.2700, 43.8150, 125.2900, 43.8300)])),
    Zone("Z-RAIL-JINGHA", "京哈铁路长春段沿线（示意）", "railway",
         MultiPolygon([LineString([(125.3180, 43.8600), (125.3230, 43.9060), (125.3300, 43.9300)])
                       .buffer(40 * _LON_M, cap_style="flat")])),
    Zone("Z-TRUNK-RENMIN", "人民大街（城市主干道，示意）", "trunk_road",
         MultiPolygon([LineString([(125.3245, 43.8000), (125.3245, 43.9050)]).buffer(30 * _LON_M, cap_style="flat")])),
]

ROADS = {
    "人民大街": [(125.3245, 43.8000), (125.3245, 43.9050)],
    "自由大路": [(125.2800, 43.8600), (125.3800, 43.8600)],
    "亚泰大街": [(125.3450, 43.8000), (125.3450, 43.9200)],
    "解放大路": [(125.2800, 43.8750), (125.4000, 43.8750)],
    "西安大路": [(125.2500, 43.8900), (125.3300, 43.8900)],
    "长春大街": [(125.3000, 43.9100), (125.3700, 43.9100)],
    "南湖大路": [(125.2700, 43.8500), (125.3300, 43.8500)],
    "卫星路": [(125.2800, 43.8300), (125.3700, 43.8300)],
    "同志街": [(125.3100, 43.8500), (125.3100, 43.9000)],
    "重庆路": [(125.3000, 43.8950), (125.3300, 43.8950)],
}


def places(communities: list[Area]) -> list[Place]:
    """Roads (lines), the zones' landmarks and every synthetic community (a point inside it)."""
    out = [Place(name, "road", LineString(coords)) for name, coords in ROADS.items()]
    out += [Place(z.name.split("（")[0], "landmark", z.geometry.representative_point()) for z in ZONES
            if z.kind in ("park", "campus")]
    out += [Place(c.name, "community", c.geometry.representative_point()) for c in communities]
    return out

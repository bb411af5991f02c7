"""Coordinate systems: every device's point ends up where it is, in WGS-84, within a metre."""
from __future__ import annotations

import json
import math

import prcoords
import pytest
from kafka import KafkaProducer
from pyproj import Geod
from sqlalchemy import text

from gis.crs import OutsideChina, to_wgs84
from tests.helpers import wait_for

GEOD = Geod(ellps="WGS84")
# Changchun (人民广场), Sanya, Urumqi and Shanghai: north, south, west and east of the country.
POINTS = [(125.3245, 43.8868), (109.5120, 18.2528), (87.6168, 43.8256), (121.4737, 31.2304)]


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


@pytest.mark.parametrize("lon,lat", POINTS)
def test_gcj02_and_bd09_come_back_to_the_wgs84_point(lon, lat):
    gcj = prcoords.wgs_gcj((lat, lon))
    bd = prcoords.wgs_bd((lat, lon))
    assert metres((gcj.lon, gcj.lat), (lon, lat)) > 100, "GCJ-02 is offset by hundreds of metres: the test means something"
    assert metres(to_wgs84(gcj.lon, gcj.lat, "gcj02"), (lon, lat)) < 0.01
    assert metres(to_wgs84(bd.lon, bd.lat, "bd09"), (lon, lat)) < 0.01


@pytest.mark.parametrize("lon,lat", POINTS)
def test_cgcs2000_is_wgs84_within_a_metre(lon, lat):
    assert metres(to_wgs84(lon, lat, "cgcs2000"), (lon, lat)) < 1.0


@pytest.mark.parametrize("lon,lat", [(-0.1276, 51.5072), (43.8868, 125.3245), (140.0, 35.0), (100.0, 1.0)])
def test_points_outside_china_are_refused_with_a_reason(lon, lat):
    with pytest.raises(OutsideChina, match="outside China"):
        to_wgs84(lon, lat, "wgs84")


def test_unknown_crs_is_refused():
    with pytest.raises(ValueError):
        to_wgs84(125.3, 43.8, "epsg:3857")


@pytest.mark.integration
def test_same_point_in_three_systems_is_stored_within_a_metre_of_itself(settings, deps, worker, engine):
    lon, lat = 125.4388, 43.7126  # in Nanguan district
    gcj = prcoords.wgs_gcj((lat, lon))
    bd = prcoords.wgs_bd((lat, lon))
    sent = {"wgs84": (lon, lat), "gcj02": (gcj.lon, gcj.lat), "bd09": (bd.lon, bd.lat), "cgcs2000": (lon, lat)}
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for crs, (x, y) in sent.items():
        envelope = {"schema": "report/1", "report_id": f"crs-{crs}", "channel": "grid", "category": "020102",
                    "reported_at": "2026-11-22T09:00:00+08:00", "location": {"lon": x, "lat": y, "crs": crs}}
        producer.send(deps.topics.report("grid"), key=envelope["report_id"].encode(),
                      value=json.dumps(envelope).encode()).get(10)
    producer.close()

    def stored():
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT r.report_id, ST_X(t.location) AS lon, ST_Y(t.location) AS lat FROM reports r "
                "JOIN tickets t ON t.id = r.ticket_id")).all()
        return rows if len(rows) == len(sent) else None

    rows = wait_for(stored, what="four tickets")
    points = {r.report_id.removeprefix("crs-"): (r.lon, r.lat) for r in rows}
    for crs, point in points.items():
        assert metres(point, (lon, lat)) < 1.0, (crs, point)
    spread = max(metres(a, b) for a in points.values() for b in points.values())
    assert spread < 1.0 and not math.isnan(spread)

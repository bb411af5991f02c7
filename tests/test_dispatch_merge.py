"""Duplicate merge: same category, within the category's distance and time window of an open ticket."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.merge import Candidate, MergeRule, distance_m, merge_target
from dispatch.model import Status
from dispatch.taxonomy import read_file

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
LON, LAT = 125.3245, 43.8868  # 人民广场, 长春 (WGS-84)
M_PER_DEG_LAT = 111_140.0  # at 44°N, near enough to place test points


def north(metres: float) -> float:
    return LAT + metres / M_PER_DEG_LAT


def east(metres: float) -> float:
    return LON + metres / (M_PER_DEG_LAT * math.cos(math.radians(LAT)))


def cand(no: str, lon=LON, lat=LAT, category="020402", status=Status.DISPATCHED, ago=timedelta(hours=1)):
    return Candidate(no, category, status, lon, lat, NOW - ago)


def test_distance_is_geodesic_metres():
    assert distance_m(LON, LAT, LON, LAT) == 0
    assert distance_m(LON, LAT, LON, LAT + 0.001) == pytest.approx(111.1, abs=0.3)
    assert distance_m(LON, LAT, east(40), LAT) == pytest.approx(40, abs=0.5)


def test_within_distance_and_window_attaches():
    decision = merge_target("020402", LON, north(30), NOW, [cand("T1")])
    assert decision.ticket_no == "T1" and decision.distance_m == pytest.approx(30, abs=0.5)


@pytest.mark.parametrize(("candidate", "why"), [
    (cand("T1", lat=north(60)), "too far"),
    (cand("T1", category="020403"), "other category"),
    (cand("T1", status=Status.CLOSED), "closed"),
    (cand("T1", status=Status.REJECTED), "rejected"),
    (cand("T1", ago=timedelta(hours=25)), "too old"),
    (cand("T1", lon=None, lat=None), "candidate without location"),
])
def test_outside_the_rule_opens_a_new_ticket(candidate, why):
    assert merge_target("020402", LON, LAT, NOW, [candidate]).ticket_no is None, why


def test_window_counts_in_both_directions_and_at_its_edge():
    late_report = Candidate("T1", "020402", Status.DISPATCHED, LON, LAT, NOW + timedelta(hours=2))
    assert merge_target("020402", LON, LAT, NOW, [late_report]).ticket_no == "T1"
    assert merge_target("020402", LON, LAT, NOW, [cand("T1", ago=timedelta(hours=24))]).ticket_no == "T1"


def test_nearest_then_most_recent_wins():
    candidates = [cand("FAR", lat=north(40)), cand("NEAR", lat=north(10), ago=timedelta(hours=5)),
                  cand("NEAR-OLDER", lat=north(10), ago=timedelta(hours=6))]
    assert merge_target("020402", LON, LAT, NOW, candidates).ticket_no == "NEAR"


def test_reports_without_category_or_location_are_never_merged():
    assert merge_target(None, LON, LAT, NOW, [cand("T1", category=None)]).ticket_no is None
    decision = merge_target("020402", None, None, NOW, [cand("T1")])
    assert decision.ticket_no is None and "location" in decision.reason


def test_per_category_rules_from_the_taxonomy():
    taxonomy = read_file("yunguan/demo_data/categories.csv")
    flood = MergeRule.of(taxonomy.get("020406"))  # 城市内涝积水: 200 m, 12 h
    stall = MergeRule.of(taxonomy.get("020502"))  # 占道经营: 30 m, 12 h
    assert (flood.distance_m, flood.window) == (200, timedelta(hours=12))
    far = cand("T1", lat=north(150), category="020406")
    assert merge_target("020406", LON, LAT, NOW, [far], flood).ticket_no == "T1"
    assert merge_target("020406", LON, LAT, NOW, [far], MergeRule()).ticket_no is None
    near_stall = cand("T2", lat=north(40), category="020502")
    assert merge_target("020502", LON, LAT, NOW, [near_stall], stall).ticket_no is None
    assert MergeRule.of(None) == MergeRule()

"""City lifeline monitoring (contract §10): the debounce/hysteresis machine on crafted series, the loaders'
errors, and end to end through sensors.readings with the real broker and database — one ticket per device
and kind through redelivery, offline detection, the urgent natural clock, dead letters with reasons, and the
devices API."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import text

from dispatch.lifeline import After, Change, Direction, MetricState, RulesError, Threshold, parse_rules, step
from tests.helpers import running, wait_for

T0 = datetime(2026, 11, 28, 18, 16, tzinfo=UTC)  # a Saturday evening: outside working hours

PPM = (
    Threshold(1, Direction.ABOVE, 50.0, After(count=3), After(count=3), hysteresis=5.0),
    Threshold(2, Direction.ABOVE, 200.0, After(count=2), After(count=2), hysteresis=10.0),
)


def run(values, thresholds=PPM, every_s=10, state=None):
    state = state or MetricState()
    start = state.last_at + timedelta(seconds=every_s) if state.last_at else T0
    alarms = []
    for i, v in enumerate(values):
        state, alarm = step(state, thresholds, "ppm", v, start + timedelta(seconds=every_s * i))
        if alarm:
            alarms.append(alarm)
    return state, alarms


# -- the pure machine -------------------------------------------------------------------------------------------

def test_debounce_needs_n_consecutive_readings_beyond():
    _, alarms = run([60, 60, 40, 60, 60])  # interrupted: no alarm
    assert alarms == []
    state, alarms = run([60, 60, 60])
    assert [(a.change, a.level) for a in alarms] == [(Change.RAISED, 1)] and state.level == 1


def test_flapping_around_the_threshold_raises_one_alarm():
    flapping = [60, 60, 60] + [49, 52, 48, 51, 47, 53] * 30  # within the hysteresis band (45–50) and above
    state, alarms = run(flapping)
    assert [(a.change, a.level) for a in alarms] == [(Change.RAISED, 1)]
    assert state.level == 1


def test_clear_needs_m_readings_outside_the_band_and_never_closes_by_itself():
    state, alarms = run([60, 60, 60, 44, 44, 46, 44, 44, 44])
    assert [(a.change, a.level) for a in alarms] == [(Change.RAISED, 1), (Change.CLEARED, 0)]
    assert alarms[1].at == T0 + timedelta(seconds=80)  # 44, 44, (46 held: restart), 44, 44, 44
    assert state.level == 0


def test_a_higher_level_raises_and_lowers():
    _, alarms = run([60, 60, 60, 250, 250, 120, 120])
    assert [(a.change, a.level, a.previous) for a in alarms] == [
        (Change.RAISED, 1, 0), (Change.HIGHER, 2, 1), (Change.LOWER, 1, 2)]


def test_seconds_debounce():
    rules = (Threshold(1, Direction.BELOW, 0.2, After(seconds=60), After(seconds=30)),)
    _, alarms = run([0.1] * 6, rules, every_s=10)  # 0..50 s: not yet
    assert alarms == []
    _, alarms = run([0.1] * 7, rules, every_s=10)  # 60 s after the first
    assert [(a.change, a.level) for a in alarms] == [(Change.RAISED, 1)]


def test_a_reading_applied_twice_or_out_of_order_changes_nothing():
    state, _ = run([60, 60])
    again, alarm = step(state, PPM, "ppm", 60, state.last_at)
    assert again == state and alarm is None
    older, alarm = step(state, PPM, "ppm", 60, state.last_at - timedelta(seconds=1))
    assert older == state and alarm is None


def test_state_survives_a_round_trip():
    state, _ = run([60, 60])
    loaded = MetricState.load(json.loads(json.dumps(state.dump())), state.last_at)
    assert loaded == state
    assert run([60], state=loaded)[1][0].change is Change.RAISED


@hsettings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=400, allow_nan=False), min_size=1, max_size=80))
def test_any_series_alternates_raise_and_clear_and_ends_at_its_level(values):
    state, alarms = run(values)
    level = 0
    for a in alarms:
        assert a.previous == level and a.level != level  # each change starts where the last ended
        assert (a.change in (Change.RAISED, Change.HIGHER)) == (a.level > level)
        level = a.level
    assert level == state.level
    # a raise needs its debounce: at least 2 readings before it beyond the level (count 3 or 2)
    assert len(alarms) <= len(values) // 2 + 1


@hsettings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=45.5, max_value=54.5, allow_nan=False), min_size=1, max_size=200))
def test_values_within_the_band_after_a_raise_never_clear(values):
    raised, _ = run([60, 60, 60])
    state, alarms = run(values, state=raised)
    assert [a for a in alarms if a.change is Change.CLEARED] == []


def test_rules_file_problems_are_all_named():
    with pytest.raises(RulesError) as exc:
        parse_rules({"kinds": {
            "gas": {"offline_after": -1, "metrics": {"ppm": [
                {"level": 4, "above": 50}, {"level": 2, "above": "x"}, {"level": 1, "above": 1, "below": 2}]}},
            "water": {"offline_after": "5m", "metrics": {"bar": [
                {"level": 1, "below": 0.2, "raise_after": "soon"},
                {"level": 2, "below": 0.3}]}},
        }})
    text_ = str(exc.value)
    for part in ("kinds.gas.offline_after", "kinds.gas.metrics.ppm[0].level", "kinds.gas.metrics.ppm[1].above",
                 "kinds.gas.metrics.ppm[2]: give exactly one", "kinds.water.metrics.bar[0].raise_after",
                 "kinds.water.metrics.bar: level 2 must lie beyond level 1"):
        assert part in text_, part
    [gas] = parse_rules({"kinds": {"gas": {"offline_after": "2m", "category": "020403", "metrics": {
        "ppm": [{"level": 2, "above": 200, "raise_after": "30s"}, {"level": 1, "above": 50, "raise_after": 3}]}}}})
    assert gas.offline_after_s == 120 and [t.level for t in gas.thresholds("ppm")] == [1, 2]
    assert gas.thresholds("ppm")[1].raise_after == After(seconds=30)


# -- over the real database and broker ---------------------------------------------------------------------------

GAS_UNIT = "220102-GAS"
NANGUAN = (125.4388, 43.7126)  # 南关区, WGS-84
RULES_YAML = """
kinds:
  gas:
    offline_after: 600
    category: "020403"
    metrics:
      ppm:
        - {level: 1, above: 50, raise_after: 3, clear_after: 3, hysteresis: 5}
        - {level: 2, above: 200, raise_after: 2, clear_after: 2, hysteresis: 10}
  water:
    offline_after: "10m"
    category: "020402"
    metrics:
      bar:
        - {level: 1, below: 0.2, raise_after: 2}
"""


def _cli(settings, *args) -> subprocess.CompletedProcess:
    from tests.helpers import worker_env

    return subprocess.run([sys.executable, "-m", "yunguan.cli", *args], env=worker_env(settings), text=True,
                          capture_output=True, timeout=60)


@pytest.fixture
def registry(settings, clean_db, tmp_path):
    """Thresholds and three devices loaded (gas g1, g2 and water w1 in 南关区), in process: the loaders'
    command line is tested below."""
    import yaml

    from application.lifeline import load_devices, load_thresholds, read_devices
    from application.routing import RoutingCache

    with clean_db.begin() as conn:
        conn.execute(text("TRUNCATE devices, device_kinds, sensor_readings CASCADE"))
    assert load_thresholds(clean_db, yaml.safe_load(RULES_YAML)) == {"kinds": 2, "thresholds": 3}
    lon, lat = NANGUAN
    (tmp_path / "devices.csv").write_text(
        "device_id,kind,lon,lat,crs,unit,name,network\n"
        f"g1,gas,{lon},{lat},wgs84,{GAS_UNIT},人民大街调压站,中压A\n"
        f"g2,gas,{lon + 0.001},{lat},wgs84,{GAS_UNIT},,\n"
        f"w1,water,{lon},{lat + 0.001},wgs84,220102-WATER,,\n", encoding="utf-8")
    cache = RoutingCache.from_settings(clean_db, settings)
    try:
        # registered well before the series, so nothing is offline at T0 yet
        loaded = load_devices(clean_db, read_devices(tmp_path / "devices.csv"), cache(), T0 - timedelta(minutes=1))
    finally:
        cache.close()
    assert loaded == {"devices": 3, "inserted": 3, "updated": 0}
    return tmp_path


def test_loaders_name_every_problem_and_write_nothing(settings, registry, engine):
    (registry / "rules.yaml").write_text(RULES_YAML, encoding="utf-8")
    done = _cli(settings, "thresholds", "load", str(registry / "rules.yaml"))
    assert done.returncode == 0 and json.loads(done.stdout) == {"kinds": 2, "thresholds": 3}, done.stderr
    bad = registry / "bad.csv"
    bad.write_text("device_id,kind,lon,lat,crs,unit\n"
                   f"g9,gas,125.43,43.71,wgs84,{GAS_UNIT}\n"
                   "g10,gas,east,43.71,wgs84,220102-GAS\n"
                   "g11,gas,125.43,43.71,utm,220102-GAS\n"
                   "g9,gas,125.43,43.71,wgs84,220102-GAS\n"
                   "map,gas,125.43,43.71,wgs84,220102-GAS\n"
                   "a/b,gas,125.43,43.71,wgs84,220102-GAS\n", encoding="utf-8")
    done = _cli(settings, "devices", "load", str(bad))
    assert done.returncode == 2
    for part in ("line 3: lon and lat", "line 4: crs 'utm'", "line 5: device_id g9 repeats line 2",
                 "line 6: device_id 'map' cannot be used", "line 7: device_id 'a/b' cannot be used"):
        assert part in done.stderr, done.stderr
    unknown = registry / "unknown.geojson"
    unknown.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [125.43, 43.71]},
         "properties": {"device_id": "g12", "kind": "gas", "unit": "NOPE"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [100.0, 30.0]},
         "properties": {"device_id": "g13", "kind": "gas", "unit": GAS_UNIT}},
        {"type": "Feature", "geometry": None, "properties": {"device_id": "g14", "kind": "gas", "unit": GAS_UNIT}},
    ]}), encoding="utf-8")
    from application.lifeline import InputError, load_devices, load_thresholds, read_devices
    from application.routing import RoutingCache

    with pytest.raises(InputError) as exc:
        read_devices(unknown)
    assert exc.value.problems == ["feature 3: a Point geometry is required"]
    fixed = unknown.read_text().replace('null, "properties": {"device_id": "g14"',
                                        '{"type": "Point", "coordinates": [125.43, 43.71]}, '
                                        '"properties": {"device_id": "g14"')
    unknown.write_text(fixed, encoding="utf-8")
    cache = RoutingCache.from_settings(engine, settings)
    try:
        with pytest.raises(InputError) as exc:  # g14 is fine, but is not written alone
            load_devices(engine, read_devices(unknown), cache(), T0)
    finally:
        cache.close()
    assert exc.value.problems == ["feature 1: unit NOPE is not a known unit",
                                  "feature 2: (100.000000, 30.000000) lies outside the city's areas"]
    with pytest.raises(InputError) as exc:
        load_thresholds(engine, {"kinds": {"gas": {"offline_after": 60, "category": "0204", "metrics": {
            "ppm": [{"level": 1, "above": 50, "raise_after": "never"}]}}}})
    assert exc.value.problems == ["kinds.gas.metrics.ppm[0].raise_after: 'never' is not a count or a duration "
                                  "like \"90s\", \"2m\", \"1h\""]
    with pytest.raises(InputError) as exc:
        load_thresholds(engine, {"kinds": {"gas": {"offline_after": 60, "category": "0204"}}})
    assert exc.value.problems == ["kinds.gas.category: 0204 is not a 小类 of the category table"]
    rules = registry / "bad.yaml"
    rules.write_text("kinds: [\n", encoding="utf-8")
    done = _cli(settings, "thresholds", "load", str(rules))
    assert done.returncode == 2 and "not YAML" in done.stderr
    with engine.connect() as conn:  # nothing half-written
        assert conn.execute(text("SELECT count(*) FROM devices")).scalar() == 3
        assert conn.execute(text("SELECT offline_after_s FROM device_kinds WHERE kind = 'gas'")).scalar() == 600


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _reading(device_id: str, at: datetime, **values) -> bytes:
    return json.dumps({"schema": "reading/1", "device_id": device_id, "at": at.isoformat(),
                       "values": values}).encode()


@pytest.fixture
def lifeline(deps, registry):
    """The consumer on this test's sensors.readings in a thread, its clock set by the test."""
    from dataclasses import replace

    from yunguan.wiring import build_lifeline

    deps.settings = replace(deps.settings, lifeline_group=f"{deps.settings.topic_prefix}lifeline",
                            lifeline_offline_every_s=0.2, worker_batch_size=50)
    consumer = build_lifeline(deps)
    consumer.clock = Clock(T0 + timedelta(minutes=5))
    with running(consumer, "test-lifeline"):
        yield consumer


def _publish(settings, topics, messages: list[tuple[str, bytes]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    try:
        for f in [producer.send(topics.sensor_readings, key=k.encode(), value=v) for k, v in messages]:
            f.get(timeout=10)
    finally:
        producer.close()


def _tickets(engine, device_id: str):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT t.ticket_no, t.status, t.priority, t.deadline, t.created_at, t.category, t.assignee_code, "
            "dt.alarm, dt.level, (SELECT count(*) FROM ticket_history h WHERE h.ticket_id = t.id) AS entries, "
            "(SELECT string_agg(r.channel, ',') FROM reports r WHERE r.ticket_id = t.id) AS channels "
            "FROM device_tickets dt JOIN tickets t ON t.id = dt.ticket_id WHERE dt.device_id = :d ORDER BY dt.alarm"),
            {"d": device_id}).all()


def _notes(engine, ticket_no: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT h.note FROM ticket_history h JOIN tickets t ON t.id = h.ticket_id WHERE t.ticket_no = :n "
            "AND h.action = 'comment' ORDER BY h.id"), {"n": ticket_no}).scalars())


def test_flapping_series_through_the_topic_makes_one_urgent_ticket_even_when_redelivered(
        settings, deps, lifeline, engine):
    topics = deps.topics
    # g1: three readings above 50 raise level 1; then flapping within the hysteresis band (45–50) and above
    # it; then 250 twice raises level 2; then the values fall below 45 three times: cleared (never closed).
    series = [60, 61, 62] + [49, 52, 47, 55] * 10 + [250, 260, 40, 40, 40, 40]
    g1 = [("g1", _reading("g1", T0 + timedelta(seconds=5 * i), ppm=v)) for i, v in enumerate(series)]
    # g2 flaps across 50 without ever holding three readings in a row: no alarm
    g2 = [("g2", _reading("g2", T0 + timedelta(seconds=5 * i), ppm=v)) for i, v in enumerate([60, 60, 40] * 8)]
    _publish(settings, topics, g1 + g2)

    def settled():
        rows = _tickets(engine, "g1")
        return (lifeline.stats.readings >= len(g1) + len(g2) and rows and len(_notes(engine, rows[0].ticket_no)) >= 2
                and rows)

    [ticket] = wait_for(settled, 30, what="g1's alarm ticket, raised and cleared")
    assert _tickets(engine, "g2") == []
    assert ticket.alarm == "threshold" and ticket.priority == "urgent" and ticket.channels == "sensor"
    assert ticket.level == 2 and ticket.status == "dispatched" and ticket.assignee_code == GAS_UNIT
    assert ticket.category == "020403"
    # 燃气管道泄漏 is urgent and natural-time: 15 minutes to acknowledge on a Saturday evening, not Monday
    assert ticket.deadline - ticket.created_at == timedelta(minutes=15)
    notes = _notes(engine, ticket.ticket_no)
    assert len(notes) == 2 and "level 1 → 2" in notes[0] and "升级" in notes[0] and "报警解除" in notes[1], notes
    entries = ticket.entries
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM sensor_readings WHERE device_id IN ('g1', 'g2')")).scalar()
        state = conn.execute(text("SELECT level FROM device_metric_state WHERE device_id = 'g1'")).scalar()
    assert stored == len(series) + 24 and state == 0

    # the same readings again (a redelivery after a crash before the offset commit): nothing changes
    _publish(settings, topics, g1 + g2 + [("g2", _reading("g2", T0 + timedelta(minutes=4), ppm=1))])
    wait_for(lambda: lifeline.stats.readings >= len(g1) + 2 * len(g2) + len(g1) + 1, 30,
             what="the redelivered readings consumed")
    [again] = _tickets(engine, "g1")
    assert again.ticket_no == ticket.ticket_no and again.entries == entries
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sensor_readings WHERE device_id IN ('g1', 'g2')")
                            ).scalar() == stored + 1
        assert conn.execute(text("SELECT count(*) FROM tickets")).scalar() == 1

    # a new alarm on the same device annotates its open ticket instead of opening a second
    lifeline.clock.at = T0 + timedelta(minutes=15)
    later = [("g1", _reading("g1", T0 + timedelta(minutes=10, seconds=i), ppm=80)) for i in range(3)]
    _publish(settings, topics, later)
    wait_for(lambda: len(_notes(engine, ticket.ticket_no)) == 3, 30, what="the second alarm as a note")
    assert len(_tickets(engine, "g1")) == 1


def test_process_twice_changes_nothing(deps, registry, engine):
    """A batch processed, committed, and processed again (offsets lost after the database commit)."""
    from dataclasses import replace

    from streams.rdkafka import Record
    from yunguan.wiring import build_lifeline

    deps.settings = replace(deps.settings, lifeline_group="unused")
    consumer = build_lifeline(deps)
    consumer.clock = Clock(T0 + timedelta(minutes=5))
    records = [Record("sensors.readings", 0, i, b"w1", _reading("w1", T0 + timedelta(seconds=i), bar=0.1))
               for i in range(4)]
    first = consumer.process(records)
    assert len(first.opened) == 1 and [a.change for a in first.alarms] == [Change.RAISED]
    second = consumer.process(records)
    assert second.opened == [] and second.alarms == [] and second.stored == 0
    [ticket] = _tickets(engine, "w1")
    assert ticket.category == "020402" and ticket.priority == "urgent"


def test_offline_device_raises_one_ticket_once(settings, deps, lifeline, engine):
    heard = T0 + timedelta(minutes=2)
    _publish(settings, deps.topics, [("g1", _reading("g1", heard, ppm=1)), ("w1", _reading("w1", heard, bar=1.0))])
    wait_for(lambda: lifeline.stats.readings >= 2, 30, what="two readings")
    assert _tickets(engine, "g2") == []
    lifeline.clock.at = T0 + timedelta(minutes=10, seconds=30)  # g2 silent since registration at T0 − 1 min
    [g2] = wait_for(lambda: _tickets(engine, "g2"), 30, what="g2's offline ticket")
    assert g2.alarm == "offline" and g2.priority == "urgent"
    assert _tickets(engine, "g1") == [] and _tickets(engine, "w1") == []
    lifeline.clock.at = heard + timedelta(minutes=10, seconds=1)
    wait_for(lambda: len(_tickets(engine, "g1")) == 1 and len(_tickets(engine, "w1")) == 1, 30,
             what="g1 and w1 offline too")
    lifeline.clock.at = T0 + timedelta(minutes=30)  # still silent: no second ticket, no new note
    lifeline.offline_if_due(force=True)
    assert [len(_tickets(engine, d)) for d in ("g1", "g2", "w1")] == [1, 1, 1]
    assert _notes(engine, g2.ticket_no) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tickets")).scalar() == 3
    # g2 reports again: marked online and its offline ticket says so (still open)
    _publish(settings, deps.topics, [("g2", _reading("g2", T0 + timedelta(minutes=29), ppm=1))])
    wait_for(lambda: _notes(engine, g2.ticket_no), 30, what="the note that g2 is back")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT offline FROM device_status WHERE device_id = 'g2'")).scalar() is False


def test_bad_readings_are_dead_lettered_with_reasons(settings, deps, lifeline, engine):
    from streams.dlq import read_letters

    bad = [
        ("g1", b"{not json"),
        ("g1", json.dumps({"schema": "reading/2", "device_id": "g1", "at": T0.isoformat(),
                           "values": {"ppm": 1}}).encode()),
        ("g1", json.dumps({"schema": "reading/1", "device_id": "g1", "at": "yesterday", "values": {"ppm": 1}}).encode()),
        ("g1", json.dumps({"schema": "reading/1", "device_id": "g1", "at": T0.isoformat(),
                           "values": {"ppm": "high"}}).encode()),
        ("nope", _reading("nope", T0, ppm=1)),
        ("g1", _reading("g1", T0 + timedelta(days=1), ppm=1)),
        ("g2", _reading("g2", T0, **{"pp\u0000m": 1})),  # valid JSON the database cannot store: found and set aside
    ]
    _publish(settings, deps.topics, [*bad, ("g1", _reading("g1", T0, ppm=1))])
    wait_for(lambda: lifeline.stats.dead_letters >= len(bad) and lifeline.stats.readings >= 1, 30,
             what="seven dead letters and one reading")
    reasons = [letter["reason"] for _, _, letter in read_letters(settings.kafka_bootstrap, deps.topics)]
    expected = ["not JSON", "schema: must be \"reading/1\"", "at: must be an RFC 3339 instant",
                "values.ppm: must be a finite number", "device_id: nope is not in the device registry",
                "lies more than 300 s in the future", "could not be stored"]
    for part in expected:
        assert any(part in r for r in reasons), (part, reasons)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sensor_readings")).scalar() == 1


def test_devices_api(server, registry, deps, engine, make_user):
    import requests

    from application.lifeline import Lifeline, Reading, apply_readings
    from store.lifeline import load_rules

    with engine.begin() as conn:
        ctx = Lifeline(load_rules(conn), deps.loop()(conn), deps.settings.timezone, deps.settings.ticket_prefix)
        apply_readings(conn, [Reading("g1", T0 + timedelta(seconds=i), {"ppm": 300.0 if i < 3 else 10.0})
                              for i in range(3000)], ctx, T0 + timedelta(hours=1))
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    make_user("gas", "department", unit=GAS_UNIT)
    make_user("water", "department", unit="220102-WATER")
    heads = {}
    for name in ("duty", "gas", "water"):
        r = requests.post(f"{base}/api/v1/auth/token", json={"username": name, "password": "secret-pass-1"},
                          timeout=10)
        heads[name] = {"Authorization": f"Bearer {r.json()['token']}"}

    def get(path, who="duty", **params):
        return requests.get(f"{base}/api/v1{path}", params=params, headers=heads.get(who, {}), timeout=10)

    assert get("/devices", who=None).status_code == 401
    page = get("/devices").json()
    assert [d["device_id"] for d in page["items"]] == ["g1", "g2", "w1"] and page["next_cursor"] is None
    g1 = page["items"][0]
    assert {"device_id", "kind", "location", "unit", "status", "level", "last_at"} <= set(g1)
    assert g1["status"] == "normal" and g1["level"] == 0 and g1["unit"]["code"] == GAS_UNIT  # raised, then cleared
    assert g1["ticket_no"] is not None
    assert [d["device_id"] for d in get("/devices", kind="water").json()["items"]] == ["w1"]
    assert [d["device_id"] for d in get("/devices", who="gas").json()["items"]] == ["g1", "g2"]
    two = get("/devices", limit=2).json()
    assert len(two["items"]) == 2 and get("/devices", cursor=two["next_cursor"]).json()["items"][0]["device_id"] == "w1"
    bad = get("/devices", status="burning")
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]
    assert get("/devices", status="normal").json()["items"][0]["device_id"] == "g1"
    short = get("/devices/g1/readings", **{"from": T0.isoformat(), "to": (T0 + timedelta(seconds=100)).isoformat()})
    assert short.status_code == 200 and short.json()["bin_s"] is None and len(short.json()["metrics"]["ppm"]) == 100
    long = get("/devices/g1/readings", **{"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}).json()
    assert long["bin_s"] and len(long["metrics"]["ppm"]) <= 2000
    assert sum(p["n"] for p in long["metrics"]["ppm"]) == 3000 and long["metrics"]["ppm"][0]["max"] == 300.0
    assert get("/devices/g1/readings", who="water").status_code == 404
    wrong = get("/devices/g1/readings", **{"from": "soon"})
    assert wrong.status_code == 400 and "from" in wrong.json()["error"]["fields"]
    backwards = get("/devices/g1/readings", **{"from": T0.isoformat(), "to": T0.isoformat()})
    assert backwards.status_code == 400 and "from" in backwards.json()["error"]["fields"]


def test_kill_9_mid_stream_opens_no_second_ticket_and_loses_no_alarm(settings, deps, registry, engine, tmp_path):
    """`yunguan lifeline` as a real process, killed with SIGKILL mid-stream and started again: the stream's
    outcome is what one uninterrupted run makes — one ticket for g1, raised once and cleared once."""
    import signal

    from tests.helpers import worker_env

    series = [60, 60, 60] + [49, 52] * 700 + [250, 250] + [40] * 6
    g1 = [("g1", _reading("g1", T0 + timedelta(seconds=i), ppm=v)) for i, v in enumerate(series)]
    others = [(d, _reading(d, T0 + timedelta(seconds=i), **({"ppm": 1} if d == "g2" else {"bar": 1.0})))
              for i in range(len(series)) for d in ("g2", "w1")]
    _publish(settings, deps.topics, g1 + others)
    total = len(g1) + len(others)
    env = worker_env(settings, lifeline_group=f"{settings.topic_prefix}lifeline", lifeline_offline_every_s=3600)

    def start(name):
        return subprocess.Popen([sys.executable, "-m", "yunguan.cli", "lifeline"], env=env,
                                stdout=open(tmp_path / name, "ab"), stderr=subprocess.STDOUT)

    def stored() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM sensor_readings")).scalar_one()

    first = start("lifeline1.log")
    try:
        wait_for(lambda: [t for t in _tickets(engine, "g1") if t.alarm == "threshold"], 60, what="g1's ticket")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert stored() < total, "the consumer finished before it was killed; the test proves nothing"
    second = start("lifeline2.log")
    try:
        wait_for(lambda: stored() == total, 90, interval=0.2, what=f"{total} readings after the restart")
        wait_for(lambda: len(_notes(engine, _tickets(engine, "g1")[-1].ticket_no)) >= 2, 30,
                 what="g1's raise and clear")
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(30)
    assert code == 0, (tmp_path / "lifeline2.log").read_text()[-2000:]
    [ticket] = [t for t in _tickets(engine, "g1") if t.alarm == "threshold"]
    notes = _notes(engine, ticket.ticket_no)
    assert len(notes) == 2 and "升级" in notes[0] and "报警解除" in notes[1], notes
    assert ticket.level == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM device_tickets WHERE alarm = 'threshold'")).scalar() == 1
        assert conn.execute(text("SELECT level FROM device_metric_state WHERE device_id = 'g1'")).scalar() == 0


def test_status_rows_lag_but_offline_is_confirmed_from_the_readings(deps, registry, engine):
    """A device heard again within STATUS_EVERY_S keeps its older status row (no write), yet the offline pass
    does not call it silent while its newest stored reading is within offline_after."""
    from dataclasses import replace

    from streams.rdkafka import Record
    from yunguan.wiring import build_lifeline

    deps.settings = replace(deps.settings, lifeline_group="unused")
    consumer = build_lifeline(deps)
    consumer.clock = Clock(T0 + timedelta(minutes=2))
    first, second = T0 + timedelta(minutes=1), T0 + timedelta(minutes=1, seconds=10)
    consumer.process([Record("sensors.readings", 0, 0, b"g1", _reading("g1", first, ppm=1))])
    consumer.process([Record("sensors.readings", 0, 1, b"g1", _reading("g1", second, ppm=1))])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT last_at FROM device_status WHERE device_id = 'g1'")).scalar() == first
        assert conn.execute(text("SELECT count(*) FROM device_metric_state WHERE device_id = 'g1'")).scalar() == 0
    # 600 s after the status row's instant, but not after the newest reading: g1 stays online; g2 and w1
    # (never heard, registered at T0 − 1 min) are offline.
    consumer.clock.at = first + timedelta(seconds=605)
    consumer.offline_if_due(force=True)
    assert _tickets(engine, "g1") == []
    assert [t.alarm for t in _tickets(engine, "g2")] == ["offline"]
    consumer.clock.at = second + timedelta(seconds=601)
    consumer.offline_if_due(force=True)
    assert [t.alarm for t in _tickets(engine, "g1")] == ["offline"]


def test_the_lifeline_consumers_beat_and_a_silent_one_is_told(settings, deps, lifeline, engine):
    """`yunguan status` tells the lifeline consumers apart from the intake workers, and says when one goes silent
    (its heartbeats are judged as the workers' are); a database where no lifeline ran has nothing to say."""
    from dataclasses import replace

    from streams.status import lifeline_problems

    _publish(settings, deps.topics, [("g1", _reading("g1", T0, ppm=1))])
    wait_for(lambda: lifeline.stats.readings >= 1, 30, what="a reading")
    now = datetime.now(UTC)
    beats, found = wait_for(lambda: (lambda b: b if b[0] and b[0][0].messages else None)(
        lifeline_problems(engine, deps.settings, datetime.now(UTC))), 30, what="a heartbeat after the reading")
    assert found == [] and beats[0].state == "consuming" and beats[0].group_id == deps.settings.lifeline_group
    assert beats[0].partitions and beats[0].committed_at is not None
    later = now + timedelta(seconds=deps.settings.stuck_after_s * 2)  # no beat since: silent
    _, found = lifeline_problems(engine, deps.settings, later)
    assert any("silent" in p for p in found) and any("yunguan lifeline" in p for p in found), found
    assert lifeline_problems(engine, replace(deps.settings, lifeline_group="no-lifeline-here"), now) == ([], [])


def test_a_wedged_lifeline_group_is_recovered_by_its_consumer_keeping_offsets(settings, deps, registry, engine):
    """Tansu's wedge (streams.groups) hits the lifeline's own group as it hits the workers': the consumer says
    it is stuck and recovers the group itself, and the committed offsets survive (nothing read twice)."""
    from dataclasses import replace

    from store import heartbeats
    from streams.groups import committed_offsets
    from tests.helpers import wedge_group
    from yunguan.wiring import build_lifeline

    deps.settings = replace(deps.settings, lifeline_group=f"{deps.settings.topic_prefix}lifeline",
                            lifeline_offline_every_s=3600)
    group = deps.settings.lifeline_group

    def readings(n0: int, n1: int) -> list:
        return [("g1", _reading("g1", T0 + timedelta(seconds=i), ppm=1)) for i in range(n0, n1)]

    _publish(settings, deps.topics, readings(0, 5))
    first = build_lifeline(deps)
    first.clock = Clock(T0 + timedelta(minutes=5))
    with running(first, "test-lifeline-1"):
        wait_for(lambda: sum(committed_offsets(settings.kafka_bootstrap, group).values()) == 5, 60,
                 what="the first five readings committed")
    wedge_group(settings.kafka_bootstrap, group, [deps.topics.sensor_readings])
    _publish(settings, deps.topics, readings(5, 10))
    second = build_lifeline(deps)
    second.clock = Clock(T0 + timedelta(minutes=5))
    with running(second, "test-lifeline-2"):
        def stuck():
            with engine.begin() as conn:
                return any(b.state == "stuck" for b in heartbeats.recent(conn, group, datetime.now(UTC)))
        wait_for(stuck, 60, interval=0.2, what="the lifeline consumer to say it is stuck")
        wait_for(lambda: second.guard.recoveries == 1, 60, what="the consumer to recover its group")
        wait_for(lambda: sum(committed_offsets(settings.kafka_bootstrap, group).values()) == 10, 60,
                 what="the five readings behind the wedge committed")
    assert second.stats.readings == 5, "the recovered group read again what had been committed before it"

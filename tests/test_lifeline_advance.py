"""`dispatch.lifeline.advance`, the batch form of the threshold machine that the lifeline consumer runs, skips
`step` for quiet readings: checked against stepping every reading one by one (the plain definition) on
random rules, starting states and batches — duplicates, out-of-band values, flapping, no rules at all."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from dispatch.lifeline import (
    After,
    Direction,
    KindRules,
    MetricState,
    Threshold,
    _moved,
    advance,
    quiet_band,
    step,
)

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
DEVICES = ("d1", "d2", "d3")
METRICS = ("ppm", "bar")


def _reference(states, readings, kinds, rules):
    """Every reading stepped, the definition `advance` must equal."""
    fresh = MetricState()
    before = dict(states)
    dirty, alarms, last = set(), {}, {}
    for device_id, at, values, *_ in readings:
        kind_rules = rules.get(kinds[device_id])
        for metric, value in sorted(values.items()):
            key = (device_id, metric)
            old = states.get(key, fresh)
            states[key], alarm = step(old, kind_rules.thresholds(metric) if kind_rules else (), metric, value, at)
            if key not in dirty and _moved(old, states[key]):
                dirty.add(key)
            if alarm is not None:
                alarms.setdefault(device_id, []).append(alarm)
        last[device_id] = max(at, last.get(device_id, at))
    changed = {k: states[k] for k in dirty}
    return changed, alarms, last, {k[0] for k, s in changed.items() if s.level != before.get(k, fresh).level}


afters = st.builds(After, count=st.one_of(st.none(), st.integers(1, 3)),
                   seconds=st.one_of(st.none(), st.sampled_from([0.0, 5.0, 20.0])))


@st.composite
def thresholds(draw):
    direction = draw(st.sampled_from(list(Direction)))
    levels = draw(st.integers(1, 3))
    values = sorted(draw(st.lists(st.integers(0, 100), min_size=levels, max_size=levels, unique=True)))
    if direction is Direction.BELOW:
        values.reverse()
    return tuple(Threshold(level, direction, float(v), draw(afters), draw(afters), float(draw(st.integers(0, 10))))
                 for level, v in zip(range(1, levels + 1), values, strict=True))


@st.composite
def batches(draw):
    rules = {"gas": KindRules("gas", 60.0, metrics={"ppm": draw(thresholds())}),
             "water": KindRules("water", 60.0, metrics={"ppm": draw(thresholds()), "bar": draw(thresholds())})}
    kinds = {d: draw(st.sampled_from(["gas", "water", "unruled"])) for d in DEVICES}
    states = {}
    for d in DEVICES:
        for m in METRICS:
            if draw(st.booleans()):
                level = draw(st.integers(0, 3))
                pending = draw(st.one_of(st.none(), st.integers(0, 3)))
                count = draw(st.integers(1, 2)) if pending is not None else 0
                since = T0 + timedelta(seconds=draw(st.integers(0, 30))) if pending is not None else None
                last_at = draw(st.one_of(st.none(), st.integers(0, 40).map(lambda s: T0 + timedelta(seconds=s))))
                states[(d, m)] = MetricState(level, pending, count, since, last_at)
    readings = []
    for _ in range(draw(st.integers(1, 40))):
        d = draw(st.sampled_from(DEVICES))
        at = T0 + timedelta(seconds=draw(st.integers(0, 80)))
        names = draw(st.lists(st.sampled_from(METRICS), min_size=1, max_size=2, unique=True))
        readings.append((d, at, {m: float(draw(st.integers(-5, 110))) for m in names}, len(readings)))
    readings.sort(key=lambda r: (r[0], r[1]))
    return states, readings, kinds, rules


@hsettings(max_examples=400, deadline=None)
@given(batches())
def test_advance_equals_stepping_every_reading(batch):
    states, readings, kinds, rules = batch
    expected_states = dict(states)
    changed, alarms, last, level_changed = _reference(expected_states, readings, kinds, rules)
    got = advance(dict(states), readings, kinds, rules)
    assert got.changed == changed
    assert got.alarms == alarms
    assert got.last == last
    assert got.level_changed == level_changed


def test_the_quiet_band_is_what_passes_no_threshold():
    above = (Threshold(1, Direction.ABOVE, 50.0), Threshold(2, Direction.ABOVE, 80.0))
    below = (Threshold(1, Direction.BELOW, 0.2), Threshold(2, Direction.BELOW, 0.1))
    assert quiet_band(above) == (float("-inf"), 50.0)
    assert quiet_band(below) == (0.2, float("inf"))
    assert quiet_band(above + below) == (0.2, 50.0)
    # the edges pass nothing: `above` is strictly greater, `below` strictly less
    assert not any(t.passed(50.0) for t in above) and not any(t.passed(0.2) for t in below)


# -- reading/1: msgspec's fast path agrees with the rules it stands in for ------------------------------------

json_values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=5), st.lists(st.integers(), max_size=2))
# per field: what a wrong or an odd value may be
ODD = {
    "schema": st.one_of(st.sampled_from(["reading/2", "Reading/1", ""]), json_values),
    "device_id": st.one_of(st.sampled_from(["", "x" * 64, "x" * 65, "设备-1", "a\u0000b"]), json_values),
    "at": st.one_of(st.sampled_from(["2026-11-30 08:00:00+08:00", "2026-11-30T08:00:00", "2026-11-30",
                                     "2026-11-30T08:00:00.123456-03:30", "2026-11-30t00:00:00z", "yesterday",
                                     "2026-02-30T08:00:00Z", "2026-12-01T00:04:59Z", "2026-12-01T00:05:01Z",
                                     "2026-11-30T08:00:00+25:00"]), json_values),
    "values": st.one_of(st.dictionaries(st.one_of(st.sampled_from(["", "x" * 65, "ppm"]), st.text(max_size=3)),
                                        json_values, max_size=3), json_values),
}


@st.composite
def reading_docs(draw):
    """A valid reading with, mostly, one field made wrong or odd (or left out)."""
    doc = {"schema": "reading/1", "device_id": draw(st.sampled_from(["g1", "bench-gas-00001"])),
           "at": draw(st.sampled_from(["2026-11-30T08:00:00+08:00", "2026-11-30T00:00:00Z",
                                       "2026-11-30T00:00:00.5+00:00"])),
           "values": draw(st.dictionaries(st.sampled_from(["ppm", "bar"]),
                                          st.one_of(st.floats(-1e6, 1e6), st.integers(-10**6, 10**6)),
                                          min_size=1, max_size=2))}
    field = draw(st.sampled_from([None, *sorted(ODD)]))
    if field is not None:
        if draw(st.integers(0, 4)) == 0:
            del doc[field]
        else:
            doc[field] = draw(ODD[field])
    return doc


@hsettings(max_examples=600, deadline=None)
@given(reading_docs())
def test_the_fast_reading_parser_accepts_only_what_the_rules_accept_and_reads_it_the_same(doc):
    import json

    from application.lifeline import ReadingError, _parse_slowly, parse_reading

    raw = json.dumps(doc).encode()  # (json: integers beyond 64 bits too)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    try:
        fast = parse_reading(raw, now, 300.0)
    except ReadingError:
        fast = None
    try:
        slow = _parse_slowly(raw)
    except ReadingError:
        slow = None
    if fast is not None:
        assert slow == fast
    elif slow is not None:  # refused: only for the instant (the future), which the slow path does not judge
        assert slow[1] > now

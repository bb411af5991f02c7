"""Simulated lifeline sensors (`yunguan simulate --sensors N`, `yunguan demo`, bench/readings.py).

A fleet of gas, water-supply, drainage, bridge and heating devices placed inside the loaded districts, bound to
each district's unit of that kind, with thresholds for every kind (`thresholds()`, the same document
`yunguan thresholds load` takes). Their readings are what such networks send: a base value with a daily
cycle, a slow drift and noise; now and then a real incident (a gas leak: ppm rising for minutes; a pipe
burst: pressure falling within seconds; drainage rising after rain; a bridge's strain jumping; a heating
main losing temperature); a few devices sitting just beyond a threshold and flapping across it (inside the
hysteresis band, so they raise one alarm, not hundreds); and a few that fall silent (offline tickets).

Everything comes from one `random.Random(seed)` and instants relative to the run's start: the same seed, the
same number of devices and the same start give the same devices, incidents, silences and values.
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shapely.geometry import Point

from gis.areas import Area


@dataclass(frozen=True)
class MetricModel:
    """A metric's normal behaviour: `base` ± `daily` (peak at `peak_hour` local time), `drift` per day, `noise`
    (standard deviation), and the incident's worst value reached after `ramp_s` seconds, held `hold_s`."""

    metric: str
    base: float
    daily: float
    drift: float
    noise: float
    incident: float
    ramp_s: float
    hold_s: float
    peak_hour: float = 8.0
    digits: int = 3


@dataclass(frozen=True)
class KindModel:
    kind: str
    unit_suffix: str  # the district's unit of this kind: {district}-{suffix} (yunguan.demo.demo_units)
    category: str  # 小类 of its alarm tickets (yunguan/demo_data/categories.csv)
    share: float
    metrics: tuple[MetricModel, ...]
    flap_metric: str  # the metric a flapping device flaps on
    flap_at: float  # just beyond level 1, inside its hysteresis band
    flap_spread: float  # half-width of the flapping, smaller than the band


# A device's name says its kind in Chinese, as a city's register would (燃气监测点, not "gas监测点").
KIND_NAMES = {"gas": "燃气", "water": "供水", "drainage": "排水", "bridge": "桥梁", "heating": "供热"}

# Thresholds below are chosen so that normal values (base ± daily ± drift ± 4 noise) stay clear of level 1.
KINDS: dict[str, KindModel] = {k.kind: k for k in (
    KindModel("gas", "GAS", "020403", 0.35, (
        MetricModel("ppm", 8.0, 3.0, 0.5, 2.0, 420.0, 300.0, 600.0, peak_hour=19.0, digits=1),), "ppm", 52.0, 4.0),
    KindModel("water", "WATER", "020402", 0.25, (
        MetricModel("pressure", 0.36, 0.03, -0.002, 0.008, 0.06, 30.0, 1200.0, peak_hour=4.0),),
        "pressure", 0.195, 0.012),
    KindModel("drainage", "DRAINAGE", "020406", 0.20, (
        MetricModel("level", 0.6, 0.1, 0.01, 0.04, 2.9, 900.0, 1800.0, peak_hour=7.0, digits=2),),
        "level", 1.53, 0.06),
    KindModel("bridge", "ROADS", "020409", 0.08, (
        MetricModel("strain", 300.0, 60.0, 2.0, 15.0, 980.0, 20.0, 600.0, peak_hour=17.0, digits=1),
        MetricModel("tilt", 0.1, 0.02, 0.001, 0.01, 1.3, 60.0, 900.0, peak_hour=14.0)), "strain", 610.0, 20.0),
    KindModel("heating", "HEATING", "020405", 0.12, (
        MetricModel("temp", 75.0, 4.0, -0.1, 0.8, 38.0, 240.0, 1200.0, peak_hour=6.0, digits=1),),
        "temp", 54.0, 1.5),
)}


def thresholds(offline_after_s: float = 600.0) -> dict:
    """The thresholds document for every simulated kind (`yunguan thresholds load` takes the same)."""
    def lv(level, direction, value, raise_after, clear_after, hysteresis):
        return {"level": level, direction: value, "raise_after": raise_after, "clear_after": clear_after,
                "hysteresis": hysteresis}

    kinds = {
        "gas": {"ppm": [lv(1, "above", 50, 3, 3, 5), lv(2, "above", 200, 2, 3, 10), lv(3, "above", 1000, 1, 3, 50)]},
        "water": {"pressure": [lv(1, "below", 0.2, 3, 3, 0.02), lv(2, "below", 0.1, 2, 3, 0.01)]},
        "drainage": {"level": [lv(1, "above", 1.5, 3, 3, 0.1), lv(2, "above", 2.5, 2, 3, 0.1)]},
        "bridge": {"strain": [lv(1, "above", 600, 3, 3, 30), lv(2, "above", 900, 2, 3, 30)],
                   "tilt": [lv(1, "above", 0.5, 3, 3, 0.05), lv(2, "above", 1.0, 2, 3, 0.05)]},
        "heating": {"temp": [lv(1, "below", 55, 3, 3, 2), lv(2, "below", 45, 2, 3, 2)]},
    }
    return {"kinds": {k: {"offline_after": offline_after_s, "category": KINDS[k].category, "metrics": m}
                      for k, m in kinds.items()}}


@dataclass(frozen=True)
class SimDevice:
    device_id: str
    kind: str
    lon: float
    lat: float
    unit: str
    name: str
    network: str


def place_devices(areas: list[Area], n: int, seed: int, prefix: str = "sim") -> list[SimDevice]:
    """`n` devices of the kinds by their share, each at a point inside a district (more in the small urban
    ones, as real networks are), bound to that district's unit of its kind."""
    rng = random.Random(seed)
    districts = [a for a in areas if a.level == "district"]
    if not districts:
        raise ValueError("no districts loaded: run `yunguan demo --data-only` or `yunguan areas load` first")
    weights = [1.0 / max(d.geometry.area, 1e-4) ** 0.5 for d in districts]
    kinds = list(KINDS.values())
    out = []
    inner: dict = {}
    for i in range(n):
        k = rng.choices(kinds, [m.share for m in kinds])[0]
        d = rng.choices(districts, weights)[0]
        lon, lat = _point_in(rng, d, inner)
        out.append(SimDevice(f"{prefix}-{k.kind}-{i + 1:05d}", k.kind, round(lon, 6), round(lat, 6),
                             f"{d.code}-{k.unit_suffix}"[:32], f"{d.name}{KIND_NAMES.get(k.kind, k.kind)}监测点{i + 1}",
                             f"{d.name}{k.kind}管网"))
    return out


def _point_in(rng: random.Random, area: Area, inner: dict | None = None) -> tuple[float, float]:
    """A point inside the area and clear of its border (where routing would be uncertain); `inner` caches the
    shrunk shapes by area code."""
    minx, miny, maxx, maxy = area.geometry.bounds
    inner = {} if inner is None else inner
    if area.code not in inner:
        from shapely.prepared import prep

        shrunk = area.geometry.buffer(-0.002)
        inner[area.code] = prep(shrunk if not shrunk.is_empty else area.geometry)
    shape = inner[area.code]
    for _ in range(1000):
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if shape.covers(p):
            return p.x, p.y
    c = area.geometry.representative_point()
    return c.x, c.y


def devices_csv(devices: list[SimDevice]) -> str:
    """The registry file for `yunguan devices load` (and application.lifeline.read_devices)."""
    lines = ["device_id,kind,lon,lat,crs,unit,name,network"]
    lines += [f"{d.device_id},{d.kind},{d.lon},{d.lat},wgs84,{d.unit},{d.name},{d.network}" for d in devices]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Incident:
    device_id: str
    start: datetime
    metric: str


@dataclass
class Fleet:
    """The devices' behaviour over time. `start` is the run's first instant; `span_s` the simulated span the
    scheduled incidents and silences fall in (a live run without end uses its first ten minutes, then one
    incident per device every `incident_every_h` hours on average)."""

    devices: list[SimDevice]
    seed: int
    start: datetime
    span_s: float = 600.0
    timezone: str = "Asia/Shanghai"
    incident_every_h: float = 48.0
    incidents: list[Incident] = field(default_factory=list)
    silent: dict[str, datetime] = field(default_factory=dict)  # device → when it falls silent
    flapping: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed * 7919 + len(self.devices))
        self._rng = rng
        self._tz = ZoneInfo(self.timezone)
        n = len(self.devices)
        order = list(range(n))
        rng.shuffle(order)
        # At least one of each, so a short run shows every behaviour: ~2 % incidents, ~2.5 % flapping,
        # ~1 % silent.
        n_inc, n_flap, n_silent = max(1, n // 50), max(1, n // 40) if n >= 3 else 0, max(1, n // 100) if n >= 2 else 0
        picks = iter(order)
        for _ in range(min(n_inc, n)):
            d = self.devices[next(picks)]
            at = self.start + timedelta(seconds=rng.uniform(0.1, 0.4) * self.span_s)
            self.incidents.append(Incident(d.device_id, at, KINDS[d.kind].metrics[0].metric))
        for _ in range(min(n_flap, max(0, n - n_inc))):
            self.flapping.add(self.devices[next(picks)].device_id)
        for _ in range(min(n_silent, max(0, n - n_inc - n_flap))):
            d = self.devices[next(picks)]
            self.silent[d.device_id] = self.start + timedelta(seconds=rng.uniform(0.05, 0.2) * self.span_s)
        self._device_rng = {d.device_id: random.Random(f"{self.seed}:{d.device_id}") for d in self.devices}
        self._drift_sign = {d.device_id: self._device_rng[d.device_id].choice((-1.0, 1.0)) for d in self.devices}
        self._phase = {d.device_id: self._device_rng[d.device_id].random() for d in self.devices}
        self._incident_of = {i.device_id: i for i in self.incidents}

    def more_incidents(self, since: datetime, until: datetime) -> list[Incident]:
        """Random further incidents in (since, until]: each device about once per `incident_every_h` hours."""
        seconds = (until - since).total_seconds()
        expected = len(self.devices) * seconds / (self.incident_every_h * 3600)
        found = []
        count = int(expected) + (1 if self._rng.random() < expected - int(expected) else 0)
        for _ in range(count):
            d = self._rng.choice(self.devices)
            if d.device_id in self._incident_of or d.device_id in self.silent or d.device_id in self.flapping:
                continue
            inc = Incident(d.device_id, since + timedelta(seconds=self._rng.uniform(0, seconds)),
                           KINDS[d.kind].metrics[0].metric)
            self.incidents.append(inc)
            self._incident_of[d.device_id] = inc
            found.append(inc)
        return found

    def reads_at(self, device: SimDevice, at: datetime) -> bool:
        """False once the device has fallen silent."""
        until = self.silent.get(device.device_id)
        return until is None or at < until

    def values(self, device: SimDevice, at: datetime) -> dict[str, float]:
        kind = KINDS[device.kind]
        rng = self._device_rng[device.device_id]
        local = at.astimezone(self._tz)
        hour = local.hour + local.minute / 60 + local.second / 3600
        days = (at - self.start).total_seconds() / 86400
        out = {}
        incident = self._incident_of.get(device.device_id)
        for m in kind.metrics:
            v = (m.base + m.daily * math.cos(2 * math.pi * (hour - m.peak_hour) / 24)
                 + m.drift * self._drift_sign[device.device_id] * days + rng.gauss(0, m.noise))
            if device.device_id in self.flapping and m.metric == kind.flap_metric:
                # Across the threshold and back, always inside the hysteresis band: one alarm, never cleared.
                v = kind.flap_at + rng.uniform(-kind.flap_spread, kind.flap_spread)
            if incident is not None and incident.metric == m.metric:
                v = _incident_value(v, m, (at - incident.start).total_seconds())
            out[m.metric] = round(v, m.digits)
        return out

    def readings(self, since: datetime, until: datetime, every_s: float) -> Iterator[tuple[datetime, SimDevice]]:
        """(instant, device) in time order: each device every `every_s` seconds from `since` (exclusive) to
        `until` (inclusive), staggered by its own phase, and only while it still reports."""
        slots = []
        for d in self.devices:
            offset = self._phase[d.device_id] * every_s
            first = math.floor(((since - self.start).total_seconds() - offset) / every_s) + 1
            slots.append((first, offset, d))
        span = (until - self.start).total_seconds()
        out = []
        for first, offset, d in slots:
            k = max(first, 0)
            while True:
                t = offset + k * every_s
                if t > span:
                    break
                at = self.start + timedelta(seconds=t)
                if at > since and self.reads_at(d, at):
                    out.append((at, d))
                k += 1
        out.sort(key=lambda x: (x[0], x[1].device_id))
        return iter(out)


def _incident_value(normal: float, m: MetricModel, t: float) -> float:
    """Toward the incident's worst value over `ramp_s`, held for `hold_s`, then back to normal over a ramp
    (the repair)."""
    if t < 0:
        return normal
    if t < m.ramp_s:
        share = t / m.ramp_s
    elif t < m.ramp_s + m.hold_s:
        share = 1.0
    elif t < 2 * m.ramp_s + m.hold_s:
        share = 1.0 - (t - m.ramp_s - m.hold_s) / m.ramp_s
    else:
        return normal
    return normal + (m.incident - m.base) * share


def reading_message(device: SimDevice, at: datetime, values: dict[str, float]) -> tuple[bytes, bytes]:
    """(key, value) of a reading/1 on sensors.readings."""
    import json

    value = json.dumps({"schema": "reading/1", "device_id": device.device_id, "at": at.isoformat(),
                        "values": values}, separators=(",", ":"))
    return device.device_id.encode(), value.encode()


def register(engine, settings, devices: list[SimDevice], now: datetime, offline_after_s: float = 600.0,
             replace_thresholds: bool = False) -> dict:
    """Thresholds for the simulated kinds (only for kinds without any, unless `replace_thresholds`: an
    operator's own stay) and the devices, through the same loaders as `yunguan thresholds load` and
    `yunguan devices load` (a CSV file, read and routed like any other)."""
    import tempfile
    from pathlib import Path

    from sqlalchemy import text

    from application.lifeline import load_devices, load_thresholds, read_devices
    from application.routing import RoutingCache

    doc = thresholds(offline_after_s)
    if not replace_thresholds:
        with engine.connect() as conn:
            have = set(conn.execute(text("SELECT kind FROM device_kinds")).scalars())
        doc = {"kinds": {k: v for k, v in doc["kinds"].items() if k not in have}}
    loaded = load_thresholds(engine, doc) if doc["kinds"] else {"kinds": 0, "thresholds": 0}
    with tempfile.TemporaryDirectory(prefix="yunguan-sensors-") as tmp:
        path = Path(tmp) / "devices.csv"
        path.write_text(devices_csv(devices), encoding="utf-8")
        found = read_devices(path)
    cache = RoutingCache.from_settings(engine, settings)
    try:
        result = load_devices(engine, found, cache(), now)
    finally:
        cache.close()
    return {**result, "threshold_kinds": loaded["kinds"]}


@dataclass
class SensorRun:
    """What a run published, for its summary line (and the test)."""

    readings: int = 0
    failed: int = 0
    incidents: list[str] = field(default_factory=list)
    silent: list[str] = field(default_factory=list)
    flapping: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"readings": self.readings, "failed": self.failed, "incidents": sorted(set(self.incidents)),
                "silent": sorted(self.silent), "flapping": sorted(self.flapping)}


def run_sensors(fleet: Fleet, publish, every_s: float, since: datetime, until: datetime | None, clock,
                stop=None, tick_s: float = 1.0) -> SensorRun:
    """Publish the fleet's readings: the past from `since` up to now at once (a backfill: `since` before now),
    then live, every `tick_s`, until `until` (None: until `stop` is set). `publish(key, value)`; `clock()`
    is now (UTC)."""
    import time

    done = SensorRun(silent=list(fleet.silent), flapping=sorted(fleet.flapping))
    cursor = since
    while True:
        now = clock()
        upto = min(now, until) if until is not None else now
        if upto > cursor:
            live_from = fleet.start + timedelta(seconds=fleet.span_s)
            if upto > live_from:  # past the scheduled span: incidents at random
                fleet.more_incidents(max(cursor, live_from), upto)
            for at, device in fleet.readings(cursor, upto, every_s):
                key, value = reading_message(device, at, fleet.values(device, at))
                publish(key, value)
                done.readings += 1
            cursor = upto
        if (until is not None and cursor >= until) or (stop is not None and stop.is_set()):
            break
        if stop is not None:
            stop.wait(tick_s)
        else:
            time.sleep(tick_s)
    done.incidents = [i.device_id for i in fleet.incidents if i.start <= cursor]
    return done

"""`yunguan simulate`: realistic synthetic reports on the intake channels at a steady rate.

Points fall inside the loaded districts (sampled from their polygons, weighted towards a few hot
spots in the urban districts); grid workers send GPS points in WGS-84 or GCJ-02, hotline call-takers
often have only an address, sensors send alarms with a device id and a reading. Like real traffic, a
small share is broken (each kind of malformed message the worker must dead-letter) and a small share
is re-sent byte for byte (a producer retry), which must not make a second ticket.
"""
from __future__ import annotations

import json
import random
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shapely.geometry import Point

from gis.areas import Area

CATEGORY_MIX = [
    ("020102", 14), ("020502", 12), ("020503", 10), ("020501", 8), ("020101", 6), ("020107", 5),
    ("010305", 8), ("010120", 6), ("010101", 4), ("010103", 4), ("020301", 5), ("020302", 4),
    ("020401", 2), ("020402", 2), (None, 5),
]
SENSOR_CATEGORIES = [("020403", "gas", "ppm", 180.0), ("020402", "water-pressure", "MPa", 0.05),
                     ("010107", "manhole-tilt", "deg", 12.0)]
CHANNEL_MIX = [("grid", 50), ("hotline", 25), ("public", 20), ("sensor", 5)]
DESCRIPTIONS = {
    "020102": "路边垃圾堆放，无人清理", "020502": "商户占道经营，影响通行", "020503": "机动车占用人行道停放",
    "020501": "流动摊贩聚集", "020101": "居民楼顶私搭乱建", "020107": "餐馆油烟直排", "010305": "垃圾箱破损",
    "010120": "路灯不亮", "010101": "上水井盖缺失", "010103": "雨水井盖破损", "020301": "夜间施工噪声扰民",
    "020302": "工地未覆盖，扬尘严重", "020401": "路面出现塌陷", "020402": "自来水管破裂，路面积水",
}
STREETS = ["人民大街", "自由大路", "亚泰大街", "解放大路", "西安大路", "长春大街", "南湖大路", "卫星路", "同志街", "重庆路"]


# Broken messages as they occur in the field, each with the reason the worker is expected to give.
MALFORMED = ("not-json", "not-utf8", "wrong-type", "unknown-crs", "outside-china", "no-location", "too-long")


@dataclass(frozen=True)
class Message:
    channel: str
    key: bytes
    value: bytes
    kind: str  # "valid", "duplicate" or "malformed:<what>"


@dataclass
class Simulator:
    areas: list[Area]
    seed: int | None = None
    malformed_share: float = 0.0
    duplicate_share: float = 0.0
    photo: object | None = None  # callable(rng) -> attachment dict; grid workers attach a photo to most reports
    _recent: deque = field(default_factory=lambda: deque(maxlen=200))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        districts = [a for a in self.areas if a.level == "district"] or self.areas
        if not districts:
            raise ValueError("no areas loaded: run `yunguan demo --data-only` or `yunguan areas load` first")
        # Urban districts (smaller polygons) get most reports, as in a real city.
        weights = [1.0 / max(d.geometry.area, 1e-4) ** 0.5 for d in districts]
        self.districts = districts
        self.weights = weights
        self.communities = [a for a in self.areas if a.level == "community"]
        self.hotspots = [self._point_in(self.rng.choices(districts, weights)[0]) for _ in range(6)]

    def _point_in(self, area: Area) -> tuple[float, float]:
        minx, miny, maxx, maxy = area.geometry.bounds
        for _ in range(1000):
            p = Point(self.rng.uniform(minx, maxx), self.rng.uniform(miny, maxy))
            if area.geometry.covers(p):
                return p.x, p.y
        c = area.geometry.representative_point()
        return c.x, c.y

    def _point(self) -> tuple[float, float]:
        if self.rng.random() < 0.4:
            lon, lat = self.rng.choice(self.hotspots)
            return lon + self.rng.gauss(0, 0.002), lat + self.rng.gauss(0, 0.002)
        return self._point_in(self.rng.choices(self.districts, self.weights)[0])

    def report(self, now: datetime | None = None) -> dict:
        now = now or datetime.now(UTC)
        channel = self.rng.choices([c for c, _ in CHANNEL_MIX], [w for _, w in CHANNEL_MIX])[0]
        category = self.rng.choices([c for c, _ in CATEGORY_MIX], [w for _, w in CATEGORY_MIX])[0]
        lon, lat = self._point()
        envelope: dict = {
            "schema": "report/1",
            "report_id": f"sim-{self.rng.getrandbits(64):016x}",  # seeded runs repeat exactly
            "channel": channel,
            "reported_at": now.isoformat(),
            "category": category,
            "description": DESCRIPTIONS.get(category or "", "市民反映问题，需核实"),
            "location": {"lon": round(lon, 6), "lat": round(lat, 6), "crs": "wgs84"},
            "address": None,
            "reporter": None,
            "attachments": [],
        }
        if channel == "grid":
            envelope["reporter"] = {"id": f"grid-{self.rng.randint(1, 40):03d}"}
            if self.photo is not None and self.rng.random() < 0.7:
                envelope["attachments"] = [self.photo(self.rng)]
            if self.rng.random() < 0.5:  # AMap SDK on the phone: GCJ-02
                from prcoords import wgs_gcj

                g = wgs_gcj((lat, lon))
                envelope["location"] = {"lon": round(g.lon, 6), "lat": round(g.lat, 6), "crs": "gcj02"}
        elif channel == "hotline":
            if self.communities and self.rng.random() < 0.5:  # callers name their community more than a road
                place = self.rng.choice(self.communities).name
                envelope["address"] = f"{place}{self.rng.choice(['东门', '北门', '3号楼下', '小区门口'])}附近"
            else:
                envelope["address"] = f"长春市{self.rng.choice(STREETS)}{self.rng.randint(1, 2000)}号附近"
            envelope["reporter"] = {"name": "市民", "phone": f"13{self.rng.randint(0, 9)}{self.rng.randint(10**7, 10**8 - 1)}"}
            if self.rng.random() < 0.4:
                envelope["location"] = None  # only an address: waits for geocoding or an operator
        elif channel == "public":
            if self.rng.random() < 0.5:
                envelope["reporter"] = {"phone": f"15{self.rng.randint(0, 9)}{self.rng.randint(10**7, 10**8 - 1)}"}
        else:
            category, kind, unit, threshold = self.rng.choice(SENSOR_CATEGORIES)
            envelope["category"] = category
            envelope["description"] = f"{kind} alarm"
            envelope["sensor"] = {
                "device_id": f"{kind}-{self.rng.randint(1, 500):04d}", "kind": kind,
                "reading": round(threshold * self.rng.uniform(1.05, 2.0), 3), "unit": unit, "threshold": threshold,
            }
        return envelope


    def message(self) -> Message:
        """The next message on the wire: mostly valid reports, some re-sent, some broken."""
        roll = self.rng.random()
        if roll < self.malformed_share:
            return self._malformed(self.rng.choice(MALFORMED))
        if roll < self.malformed_share + self.duplicate_share and self._recent:
            m = self.rng.choice(self._recent)
            return Message(m.channel, m.key, m.value, "duplicate")
        e = self.report()
        m = Message(e["channel"], e["report_id"].encode(), json.dumps(e, ensure_ascii=False).encode(), "valid")
        self._recent.append(m)
        return m

    def _malformed(self, what: str) -> Message:
        e = self.report()
        if what == "not-json":
            value = json.dumps(e, ensure_ascii=False).encode()[:-7]  # cut off mid-message
        elif what == "not-utf8":
            value = json.dumps(e, ensure_ascii=False).encode("gb18030")  # a legacy system's encoding
            if value.isascii():
                value = value[:-1] + b'\xff}'
        else:
            if what == "wrong-type":
                e["location"] = {"lon": "一二五点三", "lat": 43.8, "crs": "wgs84"}
            elif what == "unknown-crs":
                e["location"] = {"lon": 125.3, "lat": 43.8, "crs": "web-mercator"}
            elif what == "outside-china":
                e["location"] = {"lon": -0.1276, "lat": 51.5072, "crs": "wgs84"}  # a swapped-in test point: London
            elif what == "no-location":
                e["location"] = None
                e["address"] = None
            elif what == "too-long":
                e["description"] = "反复投诉" * 600
            value = json.dumps(e, ensure_ascii=False).encode()
        return Message(e["channel"], e["report_id"].encode(), value, f"malformed:{what}")


def run(simulator: Simulator, publish, rate: float, duration: float, say=None) -> int:
    """Publish `rate` messages per second for `duration` seconds (0: until interrupted);
    `publish` takes a `Message`."""
    interval = 1.0 / rate
    start = time.monotonic()
    sent = 0
    next_at = start
    while duration <= 0 or time.monotonic() - start < duration:
        publish(simulator.message())
        sent += 1
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if say and sent % max(int(rate * 10), 1) == 0:
            say(f"simulate: {sent} messages sent")
    return sent


def photo_maker(media_dir, max_bytes: int = 8 * 1024 * 1024):
    """Synthetic field photos (a coloured scene with a timestamp bar), stored like uploads, so that simulated
    grid reports carry real attachments the consoles can show."""
    import io

    from PIL import Image, ImageDraw

    from web.uploads import clean, store

    def make(rng: random.Random) -> dict:
        image = Image.new("RGB", (480, 360), tuple(rng.randint(40, 200) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.randint(0, 440), rng.randint(0, 320)
            draw.rectangle((x, y, x + rng.randint(20, 120), y + rng.randint(20, 80)),
                           fill=tuple(rng.randint(0, 255) for _ in range(3)))
        draw.rectangle((0, 330, 480, 360), fill=(0, 0, 0))
        draw.text((10, 338), datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC  simulated"), fill=(255, 255, 255))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80)
        cleaned = clean(out.getvalue(), max_bytes, 40_000_000)
        store(cleaned, media_dir)
        return cleaned.attachment()

    return make

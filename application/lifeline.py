"""City lifeline monitoring (contract §10), the tasks: load the device registry and the thresholds, apply a
batch of readings (raw series, threshold state, alarms into tickets), and the offline pass.

Alarms enter the closed loop through the same functions as reports: a device's ticket opens with
`application.opening.open_prepared` (the intake rules: a sensor alarm is urgent, its clocks natural time) and
`store.tickets.insert_tickets`, with a report row on the `sensor` channel; a raise, a clear or a note is a
system `comment` through `application.act.act_in`. Each device has at most one open ticket per kind of alarm
(`threshold`, `offline`); a clear never closes it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal, NamedTuple
from zoneinfo import ZoneInfo

import msgspec
import orjson
from sqlalchemy.engine import Connection, Engine

from application.act import act_in
from application.opening import open_prepared
from application.routing import RoutingContext, decide_routes, explanation
from dispatch.actors import SYSTEM
from dispatch.intake import ALARM_CHANNEL as SENSOR_CHANNEL
from dispatch.lifecycle import Command, Priority
from dispatch.lifeline import Alarm, AlarmKind, Change, KindRules, RulesError, advance, parse_rules
from dispatch.model import Status, Unit
from dispatch.numbers import ticket_number
from gis.crs import to_wgs84
from store import lifeline as db
from store.loop import LoopContext, load
from store.tickets import NewReport, NewTicket, TicketToWrite, allocate_sequence, insert_reports, insert_tickets

CRS_NAMES = ("wgs84", "gcj02", "bd09", "cgcs2000")
# Path segments of the devices API that a device's own address /api/v1/devices/<id> would collide with.
RESERVED_DEVICE_IDS = frozenset({"map", "summary"})


# -- the registry -----------------------------------------------------------------------------------------------

class InputError(ValueError):
    """A file with problems: every one, with its line or feature; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DeviceInput:
    where: str  # "line 3" or "feature 2", for messages
    device_id: str
    kind: str
    lon: float  # WGS-84
    lat: float
    unit: str
    name: str | None = None
    network: str | None = None


def read_devices(path: Path) -> list[DeviceInput]:
    """A device file: CSV (header `device_id,kind,lon,lat,crs,unit[,name][,network]`) or GeoJSON (Point
    features with those properties; `crs` defaults to wgs84). Raises InputError with every problem."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([f"{path}: cannot read: {exc}"]) from None
    if path.suffix.lower() in (".geojson", ".json"):
        rows = _geojson_rows(raw, path)
    elif path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(raw))
        missing = [f for f in ("device_id", "kind", "lon", "lat", "unit") if f not in (reader.fieldnames or [])]
        if missing:
            raise InputError([f"{path}: line 1: the header lacks {', '.join(missing)}"])
        rows = [(f"line {reader.line_num}", row) for row in reader]
    else:
        raise InputError([f"{path}: give a .csv or .geojson file"])
    problems: list[str] = []
    out: list[DeviceInput] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        found = _device(where, row, problems)
        if found is None:
            continue
        if found.device_id in seen:
            problems.append(f"{where}: device_id {found.device_id} repeats {seen[found.device_id]}")
            continue
        seen[found.device_id] = where
        out.append(found)
    if problems:
        raise InputError(problems)
    if not out:
        raise InputError([f"{path}: no devices"])
    return out


def _geojson_rows(raw: str, path: Path) -> list[tuple[str, dict]]:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise InputError([f"{path}: not JSON: {exc}"]) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"),
                                                                                              list):
        raise InputError([f"{path}: a GeoJSON FeatureCollection is expected"])
    rows = []
    for i, feature in enumerate(doc["features"], start=1):
        where = f"feature {i}"
        props = dict((feature or {}).get("properties") or {}) if isinstance(feature, dict) else {}
        geom = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geom, dict) or geom.get("type") != "Point" or not isinstance(geom.get("coordinates"), list) \
                or len(geom["coordinates"]) < 2:
            props["_geometry"] = "a Point geometry is required"
        else:
            props["lon"], props["lat"] = geom["coordinates"][:2]
        rows.append((where, props))
    return rows


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _device(where: str, row: dict, problems: list[str]) -> DeviceInput | None:
    before = len(problems)
    if row.get("_geometry"):
        problems.append(f"{where}: {row['_geometry']}")
    device_id, kind, unit = _text(row.get("device_id")), _text(row.get("kind")), _text(row.get("unit"))
    if not device_id or len(device_id) > 64:
        problems.append(f"{where}: device_id is required (1–64 characters)")
    elif device_id in RESERVED_DEVICE_IDS or "/" in device_id:
        problems.append(f"{where}: device_id {device_id!r} cannot be used: "
                        f"{', '.join(sorted(RESERVED_DEVICE_IDS))} and ids with '/' cannot be told apart from "
                        "other addresses of the devices API (/api/v1/devices/map, …/summary)")
    if not kind or len(kind) > 32:
        problems.append(f"{where}: kind is required (1–32 characters)")
    if not unit:
        problems.append(f"{where}: unit is required (the responsible unit's code)")
    crs = _text(row.get("crs")) or "wgs84"
    if crs not in CRS_NAMES:
        problems.append(f"{where}: crs {crs!r} is not one of {', '.join(CRS_NAMES)}")
    lon = lat = None
    if not row.get("_geometry"):
        try:
            lon, lat = float(row.get("lon")), float(row.get("lat"))
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"{where}: lon and lat must be numbers (longitude −180–180, latitude −90–90)")
    if len(problems) > before:
        return None
    wlon, wlat = to_wgs84(lon, lat, crs)
    return DeviceInput(where, device_id, kind, wlon, wlat, unit, _text(row.get("name")) or None,
                       _text(row.get("network")) or None)


def load_devices(engine: Engine, found: list[DeviceInput], ctx: RoutingContext, now: datetime) -> dict:
    """Route every device like a report (areas per level) and write them in one transaction: unknown units
    and devices outside the city's areas are problems (InputError, nothing written)."""
    decisions = decide_routes(ctx, [(d.lon, d.lat, None) for d in found])
    with engine.begin() as conn:
        units = db.units_of(conn, [d.unit for d in found])
        problems = [f"{d.where}: unit {d.unit} is not a known unit" for d in found if d.unit not in units]
        problems += [f"{d.where}: ({d.lon:.6f}, {d.lat:.6f}) lies outside the city's areas"
                     for d, r in zip(found, decisions, strict=True) if r["area"].get("district") is None]
        if problems:
            raise InputError(problems)
        rows = []
        for d, r in zip(found, decisions, strict=True):
            codes = {lv: (a or {}).get("code") for lv, a in r["area"].items()}
            rows.append({"device_id": d.device_id, "kind": d.kind, "name": d.name, "network": d.network,
                         "lon": d.lon, "lat": d.lat, "unit_code": d.unit, "district_code": codes.get("district"),
                         "street_code": codes.get("street"), "community_code": codes.get("community"),
                         "grid_code": codes.get("grid"), "area": r["area"],
                         "routing": {**explanation(r), "rule": f"device registry: unit {d.unit}"}})
        inserted, updated = db.upsert_devices(conn, rows, now)
    return {"devices": len(found), "inserted": inserted, "updated": updated}


def load_thresholds(engine: Engine, data) -> dict:
    """Check the thresholds document whole (dispatch.lifeline.parse_rules) and that its categories are
    小类 of the taxonomy; replace the kinds it names in one transaction. InputError lists every problem."""
    try:
        kinds = parse_rules(data)
    except RulesError as exc:
        raise InputError(exc.problems) from None
    with engine.begin() as conn:
        from store.categories import load_taxonomy

        taxonomy = load_taxonomy(conn)
        problems = []
        for k in kinds:
            for key in ("category", "offline_category"):
                code = getattr(k, key)
                category = taxonomy.get(code) if code else None
                if code and (category is None or not category.is_subclass):
                    problems.append(f"kinds.{k.kind}.{key}: {code} is not a 小类 of the category table")
        if problems:
            raise InputError(problems)
        count = db.replace_rules(conn, kinds)
    return {"kinds": len(kinds), "thresholds": count}


# -- readings -----------------------------------------------------------------------------------------------

class Reading(NamedTuple):
    """A valid reading/1 of a known device, with where it came from. (A tuple: a consumer makes tens of
    thousands a second, and a frozen dataclass costs twice as much to make.)"""

    device_id: str
    at: datetime
    values: dict[str, float]
    topic: str = ""
    partition: int = 0
    offset: int = 0


@dataclass
class Applied:
    """What a batch did: rows stored, alarm changes, tickets opened and annotated (ticket numbers)."""

    stored: int = 0
    alarms: list[Alarm] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    annotated: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Lifeline:
    """What applying readings needs besides the connection."""

    rules: dict[str, KindRules]
    loop: LoopContext
    timezone: str
    ticket_prefix: str


def apply_readings(conn: Connection, readings: list[Reading], ctx: Lifeline, now: datetime,
                   kinds: dict[str, str] | None = None, status: dict[str, datetime] | None = None) -> Applied:
    """One batch in the caller's transaction: the raw series (COPY; a reading stored twice is stored once),
    each (device, metric)'s threshold state advanced reading by reading in time order (locked; a reading not
    later than the state's last change changes nothing), the devices' status, and the tickets the alarm
    changes open or annotate. The caller commits, then commits offsets.

    `readings`: Readings, or any tuples whose first three fields are a Reading's (the consumer's are).
    `kinds`: {device_id: kind} of the registered devices (the consumer keeps it; None: read here). Readings of
    other devices are left out. `status`: the consumer's memory of the devices' status rows (store.lifeline.heard).

    Only states that changed at some reading of the batch are written back (with the batch's last instant) — a
    reading at its level with nothing pending (nearly every reading) writes no state row. That keeps a
    redelivery harmless: a written state skips every reading up to its last_at, and the readings of a state
    not written were all such no-op readings, which stepped again from the same state change nothing again."""
    result = Applied()
    if kinds is None:
        kinds = db.kinds_of(conn, {r[0] for r in readings})
    readings = sorted((r for r in readings if r[0] in kinds), key=_device_and_instant)
    if not readings:
        return result
    db.ensure_partitions(conn, {db.utc_day(at) for at in {r[1] for r in readings}})
    rows = [(r[0], m, r[1], v) for r in readings for m, v in r[2].items()]
    result.stored = db.copy_readings(conn, rows)
    states = db.lock_states(conn, sorted({(row[0], row[1]) for row in rows}))
    moved = advance(states, readings, kinds, ctx.rules)
    db.write_states(conn, moved.changed)
    back = db.heard(conn, moved.last, moved.level_changed, status)
    by_device = moved.alarms
    found = db.devices(conn, set(back) | set(by_device)) if back or by_device else {}
    for device_id in sorted(back):
        if device_id in found:
            _note_back(conn, found[device_id], ctx, now, result)
    for device_id, alarms in sorted(by_device.items()):
        if device_id in found:
            _threshold_ticket(conn, found[device_id], alarms, ctx, now, result)
            result.alarms += alarms
    return result


def _device_and_instant(r: Reading) -> tuple[str, datetime]:
    return r[0], r[1]


def _threshold_ticket(conn: Connection, device: db.Device, alarms: list[Alarm], ctx: Lifeline, now: datetime,
                      result: Applied) -> None:
    """Open the device's alarm ticket on a raise when it has none open; every later change is a note on it
    (a raise above the ticket's level says 升级 and raises the ticket's level). Changes without an open
    ticket (a clear) write nothing."""
    current = db.open_ticket_of(conn, device.device_id, AlarmKind.THRESHOLD)
    raises = [a for a in alarms if a.change in (Change.RAISED, Change.HIGHER)]
    if current is None:
        if not raises:
            return
        first = raises[0]
        alarms = alarms[alarms.index(first) + 1:]
        rules = ctx.rules.get(device.kind)
        ticket_no, ticket_id = _open(conn, device, AlarmKind.THRESHOLD, rules.category if rules else None,
                                     f"{device.kind} {device.device_id}{_named(device)}: " + first.note(),
                                     first.at, ctx, now)
        current = db.DeviceTicket(ticket_id, ticket_no, "", first.level)
        db.set_ticket_of(conn, device.device_id, AlarmKind.THRESHOLD, ticket_id, first.level, now)
        result.opened.append(ticket_no)
    elif alarms:
        result.annotated.append(current.ticket_no)
    level = current.level
    for alarm in alarms:
        note = alarm.note()
        if alarm.change in (Change.RAISED, Change.HIGHER) and alarm.level > level:
            note = f"升级 raised to level {alarm.level}: " + note
            level = alarm.level
        _comment(conn, current.ticket_no, note, ctx, now)
    if level > current.level:
        db.set_ticket_of(conn, device.device_id, AlarmKind.THRESHOLD, current.ticket_id, level, now)


def _note_back(conn: Connection, device: db.Device, ctx: Lifeline, now: datetime, result: Applied) -> None:
    current = db.open_ticket_of(conn, device.device_id, AlarmKind.OFFLINE)
    if current is not None:
        _comment(conn, current.ticket_no, f"设备恢复上报 device {device.device_id} is reporting again", ctx, now)
        result.annotated.append(current.ticket_no)


def offline_pass(conn: Connection, ctx: Lifeline, now: datetime) -> list[str]:
    """Devices silent longer than their kind's `offline_after`: marked offline, and each raises its device-
    offline ticket once (a ticket still open from an earlier silence is annotated instead). Returns the
    ticket numbers opened or annotated."""
    silent = db.silent(conn, now)
    if not silent:
        return []
    db.mark_offline(conn, silent, now)
    touched = []
    for device_id, device in sorted(db.devices(conn, silent).items()):
        rules = ctx.rules.get(device.kind)
        note = (f"设备离线 device {device.kind} {device.device_id}{_named(device)} silent for more than "
                f"{rules.offline_after_s:g} s" if rules else f"设备离线 device {device.device_id} offline")
        current = db.open_ticket_of(conn, device_id, AlarmKind.OFFLINE)
        if current is not None:
            _comment(conn, current.ticket_no, note, ctx, now)
            touched.append(current.ticket_no)
            continue
        ticket_no, ticket_id = _open(conn, device, AlarmKind.OFFLINE, rules.offline_category if rules else None,
                                     note, now, ctx, now)
        db.set_ticket_of(conn, device_id, AlarmKind.OFFLINE, ticket_id, 0, now)
        touched.append(ticket_no)
    return touched


def _named(device: db.Device) -> str:
    return f" ({device.name})" if device.name else ""


def _open(conn: Connection, device: db.Device, alarm: AlarmKind, category: str | None, description: str,
          at: datetime, ctx: Lifeline, now: datetime) -> tuple[str, int]:
    """The device's ticket, opened like a sensor alarm report (urgent, natural-time clocks, dispatched at once to
    the device's unit when its category is a 小类 and its point was placed with certainty), and the report
    on the `sensor` channel that it opened from."""
    unit = Unit(device.unit_code, device.unit_name, device.unit_level)
    ticket = NewTicket(status=Status.PENDING, category=category, description=description, address=None,
                       lon=device.lon, lat=device.lat, area=device.area, assignee=unit, routing=device.routing,
                       priority=Priority.URGENT, channel=SENSOR_CHANNEL)
    day = now.astimezone(ZoneInfo(ctx.timezone)).date()
    no = ticket_number(ctx.ticket_prefix, day, allocate_sequence(conn, day, 1))
    opened = open_prepared(no, ticket, ctx.loop, now)
    ids = insert_tickets(conn, [TicketToWrite(no, opened, ())], now, ctx.loop.events_topic)
    report_id = _report_id(device.device_id, alarm, at)
    envelope = {"schema": "report/1", "report_id": report_id, "channel": SENSOR_CHANNEL,
                "reported_at": at.isoformat(), "category": category, "description": description,
                "location": {"lon": device.lon, "lat": device.lat, "crs": "wgs84"}, "address": None,
                "priority": str(Priority.URGENT), "device_id": device.device_id, "alarm": str(alarm)}
    insert_reports(conn, [NewReport(SENSOR_CHANNEL, report_id, at, category, envelope, "lifeline", 0, 0,
                                    ids[no], now)])
    return no, ids[no]


def _report_id(device_id: str, alarm: AlarmKind, at: datetime) -> str:
    """`lifeline:<alarm>:<device>:<epoch ms>`, hashed when that exceeds the envelope's 64 characters."""
    plain = f"lifeline:{alarm}:{device_id}:{int(at.timestamp() * 1000)}"
    if len(plain) <= 64:
        return plain
    return f"lifeline:{alarm}:" + hashlib.sha256(plain.encode()).hexdigest()[:40]


def _comment(conn: Connection, ticket_no: str, note: str, ctx: Lifeline, now: datetime) -> None:
    loaded = load(conn, ticket_no)
    act_in(conn, ticket_no, Command("comment", loaded.state.version, note=note), SYSTEM, now, ctx.loop)


def retention(conn: Connection, now: datetime, days: int) -> int:
    """Drop the raw readings' day partitions wholly older than `days` days (0: keep everything)."""
    if days <= 0:
        return 0
    return db.drop_before(conn, db.utc_day(now - timedelta(days=days)))


class ReadingError(ValueError):
    """Why a message is not a usable reading/1, for its dead letter."""

    @property
    def reason(self) -> str:
        return str(self)


_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class _ReadingDoc(msgspec.Struct):
    """reading/1 as msgspec checks it in C: the fast path of `parse_reading` (other fields are ignored)."""

    schema: Literal["reading/1"]
    device_id: _Name
    at: Annotated[datetime, msgspec.Meta(tz=True)]
    values: Annotated[dict[_Name, float], msgspec.Meta(min_length=1)]


_decode = msgspec.json.Decoder(_ReadingDoc).decode


def parse_reading(raw: bytes | None, now: datetime, future_skew_s: float, *,
                  latest: datetime | None = None) -> tuple[str, datetime, dict[str, float]]:
    """A reading/1 message: `{"schema":"reading/1","device_id","at":RFC 3339 with offset,"values":{metric:
    number}}`; raises ReadingError naming the field. An instant later than `now` + skew is refused (`latest`:
    that instant, when the caller computed it once for a batch). A consumer parses tens of thousands a second:
    msgspec reads a well-formed reading in C; whatever it refuses is read again by `_parse_slowly`, whose
    rules are the definition (it names the field, and takes what msgspec is stricter about, e.g. an instant
    with a space for the T)."""
    try:
        doc = _decode(raw or b"")
    except msgspec.DecodeError:
        device_id, at, values = _parse_slowly(raw)
    else:
        device_id, at, values = doc.device_id, doc.at, doc.values
    if at > (latest or now + timedelta(seconds=future_skew_s)):
        raise ReadingError(f"at: {at.isoformat()} lies more than {future_skew_s:g} s in the future")
    return device_id, at, values


def _parse_slowly(raw: bytes | None) -> tuple[str, datetime, dict[str, float]]:
    try:
        doc = _loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise ReadingError(f"not JSON: {exc}") from None
    if type(doc) is not dict:
        raise ReadingError("a reading is a JSON object")
    if doc.get("schema") != "reading/1":
        raise ReadingError(f"schema: must be \"reading/1\", got {doc.get('schema')!r}")
    device_id = doc.get("device_id")
    if type(device_id) is not str or not 1 <= len(device_id) <= 64:
        raise ReadingError("device_id: required, a string of 1–64 characters")
    at_raw = doc.get("at")
    try:
        if type(at_raw) is not str:
            raise ValueError
        at = _instant(at_raw.upper())  # RFC 3339 allows a lower-case t and z; Python 3.11 reads a Z
    except ValueError:
        raise ReadingError(f"at: must be an RFC 3339 instant, got {at_raw!r}") from None
    if at.tzinfo is None:
        raise ReadingError(f"at: needs a UTC offset, got {at_raw!r}")
    values = doc.get("values")
    if type(values) is not dict or not values:
        raise ReadingError("values: required, an object of metric → number")
    clean = {}
    for metric, value in values.items():  # JSON object keys are strings
        if not 1 <= len(metric) <= 64:
            raise ReadingError(f"values: metric name {metric!r} must be 1–64 characters")
        kind = type(value)
        if kind is float:
            if not _finite(value):  # orjson refuses NaN and overflow; kept as the rule, not the parser's habit
                raise ReadingError(f"values.{metric}: must be a finite number, got {value!r}")
            clean[metric] = value
        elif kind is int:  # not bool: type() is exact
            clean[metric] = float(value)
        else:
            raise ReadingError(f"values.{metric}: must be a finite number, got {value!r}")
    return device_id, at, clean


_loads = orjson.loads
_instant = datetime.fromisoformat
_finite = math.isfinite

"""Lifeline monitoring's SQL (migration 0015): the device registry, kinds and thresholds, each metric's alarm
state, the devices' status and tickets, and the raw readings (partitioned by day, written with COPY)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import orjson
from psycopg.errors import UniqueViolation
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from dispatch.lifeline import After, Direction, KindRules, MetricState, Threshold

# -- registry -------------------------------------------------------------------------------------------------

_UPSERT_DEVICES = text(
    "INSERT INTO devices (device_id, kind, name, network, location, unit_code, district_code, street_code, "
    "community_code, grid_code, area, routing, registered_at) "
    "SELECT d.device_id, d.kind, d.name, d.network, ST_SetSRID(ST_MakePoint(d.lon, d.lat), 4326), d.unit_code, "
    "d.district_code, d.street_code, d.community_code, d.grid_code, d.area, d.routing, :now "
    "FROM jsonb_to_recordset(:rows) AS d(device_id text, kind text, name text, network text, lon float8, "
    "lat float8, unit_code text, district_code text, street_code text, community_code text, grid_code text, "
    "area jsonb, routing jsonb) "
    "ON CONFLICT (device_id) DO UPDATE SET kind = excluded.kind, name = excluded.name, network = excluded.network, "
    "location = excluded.location, unit_code = excluded.unit_code, district_code = excluded.district_code, "
    "street_code = excluded.street_code, community_code = excluded.community_code, grid_code = excluded.grid_code, "
    "area = excluded.area, routing = excluded.routing "
    "RETURNING (xmax = 0) AS inserted"
).bindparams(bindparam("rows", type_=JSONB))


def upsert_devices(conn: Connection, rows: list[dict], now: datetime) -> tuple[int, int]:
    """Insert or update devices (their state, status and tickets stay); return (inserted, updated)."""
    if not rows:
        return 0, 0
    flags = list(conn.execute(_UPSERT_DEVICES, {"rows": rows, "now": now}).scalars())
    return sum(flags), len(flags) - sum(flags)


def units_of(conn: Connection, codes: Iterable[str]) -> dict[str, tuple[str, str]]:
    """{code: (name, level)} of the units among `codes` that exist."""
    rows = conn.execute(text("SELECT code, name, level FROM units WHERE code = ANY(:c)"), {"c": sorted(set(codes))})
    return {r.code: (r.name, r.level) for r in rows}


def subclass_codes(conn: Connection, codes: Iterable[str]) -> set[str]:
    """The codes among `codes` that are categories (the taxonomy decides whether a leaf)."""
    return set(conn.execute(text("SELECT code FROM categories WHERE code = ANY(:c)"),
                            {"c": sorted(set(codes))}).scalars())


def replace_rules(conn: Connection, kinds: list[KindRules]) -> int:
    """Insert or replace the kinds given, with all their thresholds (other kinds stay); return thresholds."""
    conn.execute(text(
        "INSERT INTO device_kinds (kind, offline_after_s, category, offline_category) VALUES (:k, :o, :c, :oc) "
        "ON CONFLICT (kind) DO UPDATE SET offline_after_s = excluded.offline_after_s, category = excluded.category, "
        "offline_category = excluded.offline_category"),
        [{"k": k.kind, "o": k.offline_after_s, "c": k.category, "oc": k.offline_category} for k in kinds])
    conn.execute(text("DELETE FROM device_thresholds WHERE kind = ANY(:k)"), {"k": [k.kind for k in kinds]})
    rows = [{"kind": k.kind, "metric": m, "level": t.level, "direction": str(t.direction), "value": t.value,
             "rc": t.raise_after.count, "rs": t.raise_after.seconds, "cc": t.clear_after.count,
             "cs": t.clear_after.seconds, "h": t.hysteresis}
            for k in kinds for m, ts in k.metrics.items() for t in ts]
    if rows:
        conn.execute(text(
            "INSERT INTO device_thresholds (kind, metric, level, direction, value, raise_count, raise_seconds, "
            "clear_count, clear_seconds, hysteresis) VALUES (:kind, :metric, :level, :direction, :value, :rc, :rs, "
            ":cc, :cs, :h)"), rows)
    return len(rows)


def load_rules(conn: Connection) -> dict[str, KindRules]:
    kinds = {r.kind: r for r in conn.execute(text("SELECT * FROM device_kinds"))}
    metrics: dict[str, dict[str, list[Threshold]]] = {k: {} for k in kinds}
    for r in conn.execute(text("SELECT * FROM device_thresholds ORDER BY kind, metric, level")):
        metrics[r.kind].setdefault(r.metric, []).append(Threshold(
            r.level, Direction(r.direction), r.value, After(r.raise_count, r.raise_seconds),
            After(r.clear_count, r.clear_seconds), r.hysteresis))
    return {k: KindRules(k, r.offline_after_s, r.category, r.offline_category,
                         {m: tuple(ts) for m, ts in metrics[k].items()}) for k, r in kinds.items()}


@dataclass(frozen=True)
class Device:
    device_id: str
    kind: str
    name: str | None
    lon: float
    lat: float
    unit_code: str
    unit_name: str
    unit_level: str
    area: dict
    routing: dict
    registered_at: datetime


_DEVICES = (
    "SELECT d.device_id, d.kind, d.name, ST_X(d.location) AS lon, ST_Y(d.location) AS lat, d.unit_code, "
    "u.name AS unit_name, u.level AS unit_level, d.area, d.routing, d.registered_at "
    "FROM devices d JOIN units u ON u.code = d.unit_code "
)


def devices(conn: Connection, ids: Iterable[str]) -> dict[str, Device]:
    rows = conn.execute(text(_DEVICES + "WHERE d.device_id = ANY(:ids)"), {"ids": sorted(set(ids))})
    return {r.device_id: Device(*r) for r in rows}


def known(conn: Connection, ids: Iterable[str]) -> set[str]:
    return set(conn.execute(text("SELECT device_id FROM devices WHERE device_id = ANY(:ids)"),
                            {"ids": sorted(set(ids))}).scalars())


def kinds_of(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    """{device_id: kind} of the devices among `ids` that are registered."""
    return dict(conn.execute(text("SELECT device_id, kind FROM devices "
                                  "WHERE device_id IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))"),
                             {"ids": orjson.dumps(sorted(set(ids))).decode()}).all())


# -- raw readings ---------------------------------------------------------------------------------------------

def ensure_partitions(conn: Connection, days: Iterable[date]) -> None:
    """The day partitions of `sensor_readings` (made by the owner's SECURITY DEFINER function), in one statement.
    (Not remembered between batches: a partition made in a transaction that rolled back is not there.)"""
    wanted = sorted(set(days))
    if wanted:
        conn.execute(text("SELECT lifeline_ensure_partition(d) FROM unnest(CAST(:days AS date[])) AS d"),
                     {"days": wanted})


def copy_readings(conn: Connection, rows: list[tuple[str, str, datetime, float]]) -> int:
    """Write (device_id, metric, at, value) rows; returns rows inserted. A reading already stored (a redelivery)
    is stored once.

    First a binary COPY straight into `sensor_readings` (PostgreSQL routes the rows to their day partitions)
    inside a savepoint: nearly every batch is new readings, and this writes them once. If one of them is
    there already (a redelivered batch, or a reading twice in one batch) the savepoint is rolled back and the
    batch goes the careful way: COPY into a staging table, then INSERT … ON CONFLICT DO NOTHING."""
    if not rows:
        return 0
    raw = conn.connection.dbapi_connection
    try:
        with conn.begin_nested():
            _copy(raw, "sensor_readings", rows)
        return len(rows)
    except UniqueViolation:
        pass
    conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS lifeline_stage (device_id text, metric text, "
                      "at timestamptz, value float8) ON COMMIT DELETE ROWS"))
    _copy(raw, "lifeline_stage", rows)
    return conn.execute(text(
        "INSERT INTO sensor_readings (device_id, metric, at, value) SELECT device_id, metric, at, value "
        "FROM lifeline_stage ON CONFLICT DO NOTHING")).rowcount


def _copy(raw, table: str, rows: list[tuple[str, str, datetime, float]]) -> None:
    with raw.cursor() as cur, cur.copy(f"COPY {table} (device_id, metric, at, value) FROM STDIN (FORMAT BINARY)") \
            as copy:
        copy.set_types(["text", "text", "timestamptz", "float8"])
        for row in rows:
            copy.write_row(row)


def drop_before(conn: Connection, day: date) -> int:
    """Retention: drop the day partitions older than `day`; return how many."""
    return int(conn.execute(text("SELECT lifeline_drop_partitions_before(:d)"), {"d": day}).scalar_one())


def series(conn: Connection, device_id: str, since: datetime, until: datetime, bin_s: int | None) -> list:
    """A device's readings in [since, until): every one, or averaged (with min and max) per `bin_s` seconds."""
    if bin_s is None:
        return conn.execute(text(
            "SELECT metric, at, value, value AS min, value AS max, 1 AS n FROM sensor_readings "
            "WHERE device_id = :d AND at >= :f AND at < :t ORDER BY metric, at"),
            {"d": device_id, "f": since, "t": until}).all()
    return conn.execute(text(
        "SELECT metric, date_bin(make_interval(secs => :b), at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS at, "
        "avg(value) AS value, min(value) AS min, max(value) AS max, count(*) AS n FROM sensor_readings "
        "WHERE device_id = :d AND at >= :f AND at < :t GROUP BY 1, 2 ORDER BY 1, 2"),
        {"d": device_id, "f": since, "t": until, "b": bin_s}).all()


# -- alarm state and status -------------------------------------------------------------------------------------

def lock_states(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], MetricState]:
    """The state of each (device, metric), locked for this transaction (absent: a fresh state). The keys go as
    one JSON text (orjson, in C): psycopg dumps a Python list into a text[] element by element in Python,
    which was a tenth of the consumer's time."""
    if not keys:
        return {}
    rows = conn.execute(text(
        "SELECT s.device_id, s.metric, s.state, s.last_at FROM device_metric_state s "
        "JOIN jsonb_array_elements(CAST(:k AS jsonb)) AS k(pair) "
        "ON s.device_id = k.pair ->> 0 AND s.metric = k.pair ->> 1 ORDER BY s.device_id, s.metric FOR UPDATE OF s"),
        {"k": orjson.dumps(keys).decode()})
    return {(r.device_id, r.metric): MetricState.load(r.state, r.last_at) for r in rows}


_WRITE_STATES = text(
    "INSERT INTO device_metric_state (device_id, metric, level, state, last_at) "
    "SELECT s.device_id, s.metric, s.level, s.state, s.last_at FROM jsonb_to_recordset(:rows) "
    "AS s(device_id text, metric text, level int, state jsonb, last_at timestamptz) "
    "ON CONFLICT (device_id, metric) DO UPDATE SET level = excluded.level, state = excluded.state, "
    "last_at = excluded.last_at"
).bindparams(bindparam("rows", type_=JSONB))


def write_states(conn: Connection, states: dict[tuple[str, str], MetricState]) -> None:
    rows = [{"device_id": d, "metric": m, "level": s.level, "state": s.dump(),
             "last_at": s.last_at.isoformat() if s.last_at else None}
            for (d, m), s in states.items() if s.last_at is not None]
    if rows:
        conn.execute(_WRITE_STATES, {"rows": rows})


_HEARD = text(
    "INSERT INTO device_status (device_id, last_at, level, offline) "
    "SELECT h.device_id, h.last_at, coalesce((SELECT max(level) FROM device_metric_state s "
    "WHERE s.device_id = h.device_id), 0), false FROM jsonb_to_recordset(:rows) AS h(device_id text, "
    "last_at timestamptz) "
    "ON CONFLICT (device_id) DO UPDATE SET last_at = greatest(device_status.last_at, excluded.last_at), "
    "level = excluded.level, offline = false, offline_since = NULL"
).bindparams(bindparam("rows", type_=JSONB))

# How stale a device's last_at in device_status may get before a batch writes it again: writing every
# device's status row in every batch was a fifth of the database's work at 10,000 readings/s. The offline
# pass checks the readings themselves before it calls a device silent, so this costs the monitoring view a few
# seconds of accuracy and the offline ticket nothing.
STATUS_EVERY_S = 30.0


def _status_every(device_id: str) -> float:
    """Between half and all of STATUS_EVERY_S, fixed per device (within a process): devices heard together
    (after a start, or a fleet reporting in step) are written again spread over a quarter minute, not all in
    one batch (at 10,000 readings/s that batch was a two-second stall in bench/readings.py)."""
    return STATUS_EVERY_S * (0.5 + (hash(device_id) & 1023) / 2048)


def heard(conn: Connection, last: dict[str, datetime], changed: Iterable[str] = (),
          known: dict[str, datetime] | None = None) -> set[str]:
    """Devices heard from (their newest reading's instant): the status rows of those whose level changed
    (`changed`), that were offline, that have none yet or whose last_at is older than STATUS_EVERY_S are
    written (level recomputed from the metrics' states); returns the devices that were offline until now.

    `known` (the caller's, kept between batches): {device: the instant from which its row counts as stale},
    from its last_at as last read or written. A device in it heard again before then is not even read: it
    cannot have been marked offline since, because the offline pass wants at least `offline_after` of
    silence confirmed by the readings. Updated here; the caller drops it when a transaction fails."""
    if not last:
        return set()
    changed = set(changed)
    known = {} if known is None else known
    stale = known.get
    ask = [d for d, at in last.items() if (due := stale(d)) is None or at >= due or d in changed]
    if not ask:
        return set()
    before = {r.device_id: r for r in conn.execute(text(
        "SELECT device_id, last_at, offline FROM device_status "
        "WHERE device_id IN (SELECT jsonb_array_elements_text(CAST(:d AS jsonb)))"),
        {"d": orjson.dumps(sorted(ask)).decode()})}
    due = sorted(d for d in ask
                 if d in changed or d not in before or before[d].offline or before[d].last_at is None
                 or (last[d] - before[d].last_at).total_seconds() >= _status_every(d))
    for d in ask:
        if d in before and before[d].last_at is not None and not before[d].offline:
            known[d] = before[d].last_at + timedelta(seconds=_status_every(d))
    if not due:
        return set()
    # Locked and read again: the offline pass may have marked one offline since (then it is back, and says so).
    offline = set(conn.execute(text("SELECT device_id FROM device_status WHERE device_id = ANY(:d) AND offline "
                                    "ORDER BY device_id FOR UPDATE"), {"d": due}).scalars())
    conn.execute(_HEARD, {"rows": [{"device_id": d, "last_at": last[d].isoformat()} for d in due]})
    for d in due:
        written = last[d] + timedelta(seconds=_status_every(d))
        if d not in known or written > known[d]:
            known[d] = written
    return offline


def silent(conn: Connection, now: datetime) -> list[str]:
    """Devices not yet offline whose kind has rules and that have been silent longer than its offline_after (by
    device_status, which may lag by STATUS_EVERY_S, confirmed by their stored readings)."""
    return list(conn.execute(text(
        "SELECT d.device_id FROM devices d JOIN device_kinds k ON k.kind = d.kind "
        "LEFT JOIN device_status s ON s.device_id = d.device_id "
        "WHERE NOT coalesce(s.offline, false) "
        "AND coalesce(s.last_at, d.registered_at) < CAST(:now AS timestamptz) - make_interval(secs => k.offline_after_s) "
        "AND NOT EXISTS (SELECT 1 FROM sensor_readings r WHERE r.device_id = d.device_id "
        "AND r.at >= CAST(:now AS timestamptz) - make_interval(secs => k.offline_after_s)) "
        "ORDER BY d.device_id FOR UPDATE OF d SKIP LOCKED"), {"now": now}).scalars())


def mark_offline(conn: Connection, ids: list[str], now: datetime) -> None:
    conn.execute(text(
        "INSERT INTO device_status (device_id, offline, offline_since) SELECT unnest(CAST(:d AS text[])), true, :now "
        "ON CONFLICT (device_id) DO UPDATE SET offline = true, offline_since = excluded.offline_since"),
        {"d": ids, "now": now})


# -- the devices' tickets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceTicket:
    ticket_id: int
    ticket_no: str
    status: str
    level: int


def open_ticket_of(conn: Connection, device_id: str, alarm: str) -> DeviceTicket | None:
    """The device's ticket of this kind while it is open (a closed or rejected one no longer counts)."""
    row = conn.execute(text(
        "SELECT t.id, t.ticket_no, t.status, dt.level FROM device_tickets dt JOIN tickets t ON t.id = dt.ticket_id "
        "WHERE dt.device_id = :d AND dt.alarm = :a AND t.status NOT IN ('closed', 'rejected')"),
        {"d": device_id, "a": alarm}).first()
    return None if row is None else DeviceTicket(*row)


def set_ticket_of(conn: Connection, device_id: str, alarm: str, ticket_id: int, level: int, now: datetime) -> None:
    conn.execute(text(
        "INSERT INTO device_tickets (device_id, alarm, ticket_id, level, opened_at) VALUES (:d, :a, :t, :l, :now) "
        "ON CONFLICT (device_id, alarm) DO UPDATE SET ticket_id = excluded.ticket_id, level = excluded.level, "
        "opened_at = CASE WHEN device_tickets.ticket_id = excluded.ticket_id THEN device_tickets.opened_at "
        "ELSE excluded.opened_at END"),
        {"d": device_id, "a": alarm, "t": ticket_id, "l": level, "now": now})


# -- the device list (GET /api/v1/devices) -----------------------------------------------------------------------

_STATUS_SQL = ("CASE WHEN coalesce(s.offline, false) THEN 'offline' WHEN coalesce(s.level, 0) > 0 THEN 'alarm' "
               "ELSE 'normal' END")


def device_page(conn: Connection, *, status: str | None, kind: str | None, unit: str | None, grid: str | None,
                after: str | None, limit: int) -> list:
    """Devices in id order after `after`, filtered by status (normal, alarm, offline), kind, and the scope:
    a department's unit, a grid worker's cell (None: every device)."""
    return conn.execute(text(
        f"SELECT d.device_id, d.kind, d.name, d.network, ST_X(d.location) AS lon, ST_Y(d.location) AS lat, "
        f"d.unit_code, u.name AS unit_name, d.district_code, d.street_code, d.community_code, d.grid_code, "
        f"{_STATUS_SQL} AS status, coalesce(s.level, 0) AS level, s.last_at, "
        "(SELECT t.ticket_no FROM device_tickets dt JOIN tickets t ON t.id = dt.ticket_id "
        " WHERE dt.device_id = d.device_id AND t.status NOT IN ('closed', 'rejected') "
        " ORDER BY dt.alarm DESC LIMIT 1) AS ticket_no "
        "FROM devices d JOIN units u ON u.code = d.unit_code LEFT JOIN device_status s ON s.device_id = d.device_id "
        f"WHERE (CAST(:status AS text) IS NULL OR {_STATUS_SQL} = :status) "
        "AND (CAST(:kind AS text) IS NULL OR d.kind = :kind) "
        "AND (CAST(:unit AS text) IS NULL OR d.unit_code = :unit) "
        "AND (CAST(:grid AS text) IS NULL OR d.grid_code = :grid) "
        "AND (CAST(:after AS text) IS NULL OR d.device_id > :after) ORDER BY d.device_id LIMIT :limit"),
        {"status": status, "kind": kind, "unit": unit, "grid": grid, "after": after, "limit": limit}).all()


def device_scope(conn: Connection, device_id: str):
    """(unit_code, grid_code) of a device; None when there is no such device."""
    return conn.execute(text("SELECT unit_code, grid_code FROM devices WHERE device_id = :d"), {"d": device_id}).first()


def utc_day(at: datetime) -> date:
    if at.utcoffset() == _ZERO:  # nearly every reading: no conversion
        return at.date()
    return at.astimezone(UTC).date()


_ZERO = timedelta(0)


def count_readings(conn: Connection, device_id: str, since: datetime, until: datetime) -> int:
    """How many readings per metric at most (decides whether a range is downsampled)."""
    return int(conn.execute(text(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM sensor_readings WHERE device_id = :d "
        "AND at >= :f AND at < :t GROUP BY metric) c"), {"d": device_id, "f": since, "t": until}).scalar_one())


# -- the monitoring view (GET /api/v1/devices/map, /summary, /{id}) ---------------------------------------------

_SCOPE_SQL = ("(CAST(:unit AS text) IS NULL OR d.unit_code = :unit) "
              "AND (CAST(:grid AS text) IS NULL OR d.grid_code = :grid)")


def device_map(conn: Connection, *, kind: str | None, unit: str | None, grid: str | None, limit: int) -> list:
    """Every device in the scope (up to `limit`), only what a map marker needs, in id order. The open ticket is
    the threshold one before the offline one (`alarm` sorts 'offline' < 'threshold'), as in device_page."""
    return conn.execute(text(
        "SELECT d.device_id, d.kind, round(ST_X(d.location)::numeric, 6)::float8 AS lon, "
        f"round(ST_Y(d.location)::numeric, 6)::float8 AS lat, {_STATUS_SQL} AS status, coalesce(s.level, 0) AS level, "
        "(SELECT t.ticket_no FROM device_tickets dt JOIN tickets t ON t.id = dt.ticket_id "
        " WHERE dt.device_id = d.device_id AND t.status NOT IN ('closed', 'rejected') "
        " ORDER BY dt.alarm DESC LIMIT 1) AS ticket_no "
        "FROM devices d LEFT JOIN device_status s ON s.device_id = d.device_id "
        f"WHERE (CAST(:kind AS text) IS NULL OR d.kind = :kind) AND {_SCOPE_SQL} "
        "ORDER BY d.device_id LIMIT :limit"),
        {"kind": kind, "unit": unit, "grid": grid, "limit": limit}).all()


def device_summary(conn: Connection, *, unit: str | None, grid: str | None) -> list:
    """(kind, status, level, n): how many devices of the scope per kind, status and alarm level."""
    return conn.execute(text(
        f"SELECT d.kind, {_STATUS_SQL} AS status, "
        f"CASE WHEN {_STATUS_SQL} = 'alarm' THEN s.level ELSE 0 END AS level, count(*) AS n "
        "FROM devices d LEFT JOIN device_status s ON s.device_id = d.device_id "
        f"WHERE {_SCOPE_SQL} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"),
        {"unit": unit, "grid": grid}).all()


def device_detail(conn: Connection, device_id: str):
    """One device with its status, its open tickets per kind of alarm and its unit; None when unknown."""
    return conn.execute(text(
        "SELECT d.device_id, d.kind, d.name, d.network, ST_X(d.location) AS lon, ST_Y(d.location) AS lat, "
        "d.unit_code, u.name AS unit_name, d.district_code, d.street_code, d.community_code, d.grid_code, "
        f"{_STATUS_SQL} AS status, coalesce(s.level, 0) AS level, s.last_at, s.offline_since, d.registered_at, "
        "k.offline_after_s, "
        "(SELECT coalesce(jsonb_object_agg(dt.alarm, jsonb_build_object('ticket_no', t.ticket_no, 'status', t.status, "
        " 'level', dt.level)), '{}'::jsonb) FROM device_tickets dt JOIN tickets t ON t.id = dt.ticket_id "
        " WHERE dt.device_id = d.device_id AND t.status NOT IN ('closed', 'rejected')) AS tickets "
        "FROM devices d JOIN units u ON u.code = d.unit_code LEFT JOIN device_status s ON s.device_id = d.device_id "
        "LEFT JOIN device_kinds k ON k.kind = d.kind WHERE d.device_id = :d"), {"d": device_id}).first()


def kind_thresholds(conn: Connection, kind: str) -> list:
    """A kind's thresholds per metric and level (what the chart draws in)."""
    return conn.execute(text(
        "SELECT metric, level, direction, value, hysteresis FROM device_thresholds WHERE kind = :k "
        "ORDER BY metric, level"), {"k": kind}).all()

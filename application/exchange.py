"""Data exchange with province and ministry platforms (issue 17, contract §9, docs/exchange.md): the case
schema `exchange/1` and the push that sends the cases changed since the acknowledged cursor.

One function per task: `case_object` (a ticket as the national practice describes a case — no personal
data), `batch_body` and `signed_headers` (what goes over the wire), `acknowledged` (what counts as the
receiver's yes), `push` (the run: read, send, retry, move the cursor only after the yes) and `status` (what
operators see). HTTP itself is a port (`Receiver`), implemented by `streams.exchange_http.HttpReceiver`.

Why a batch is acknowledged by echoing its cursor, not by any 2xx: a proxy's or a portal's 200 page is not a
receiver that stored the cases; the echo is. Why the idempotency key holds the content hash as well as the
version: the deadline light (超期) changes without an action, so without a new version.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from application.notify import SIGNATURE_HEADER, backoff, display_url, mask_text, sign
from dispatch.vocabulary import CHANNEL_LABELS, STATUS_LABELS
from store import exchange as store

log = logging.getLogger(__name__)

SCHEMA = "exchange/1"
TIMESTAMP_HEADER = "X-Yunguan-Timestamp"
BATCH_HEADER = "X-Yunguan-Batch"
BACKOFF_MAX_S = 60.0

KIND_NAMES = {"component": "部件", "event": "事件"}
# 结案 / 作废 (不予立案) / 合并: the result of a case that ended; open cases have none.
RESULTS = {"closed": "结案", "rejected": "作废", "merged": "合并"}
_STAGES = ("reported", "registered", "dispatched", "acknowledged", "handled", "verified", "closed", "rejected")


class CursorError(ValueError):
    """A cursor that is not `XID.TICKET` or lies ahead of the database: bad usage (exit 2)."""


class ExchangeFailed(RuntimeError):
    """The endpoint did not acknowledge a batch after every attempt: nothing more is recorded (exit 1).
    `result`: what the run acknowledged before (set by `push`)."""

    result: PushResult | None = None


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the change log: the last (transaction id, ticket id) sent and acknowledged. Written
    `XID.TICKET` (e.g. `74512.1033`); `0` is the beginning."""

    xid: int = 0
    ticket_id: int = 0

    def __str__(self) -> str:
        return f"{self.xid}.{self.ticket_id}"

    @property
    def pair(self) -> tuple[int, int]:
        return (self.xid, self.ticket_id)


_CURSOR = re.compile(r"^(\d{1,19})(?:\.(\d{1,19}))?$")


def parse_cursor(raw: str) -> Cursor:
    match = _CURSOR.fullmatch(raw.strip())
    if not match:
        raise CursorError(f"--since: {raw!r} is not a cursor (XID.TICKET as `yunguan exchange status` prints it, "
                          "or 0 for the beginning)")
    cursor = Cursor(int(match.group(1)), int(match.group(2) or 0))
    if max(cursor.pair) >= 2 ** 63:
        raise CursorError(f"--since: {raw!r} is out of range")
    return cursor


# --- the case schema -----------------------------------------------------------------------------------------

def _time(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat(timespec="seconds") if value is not None else None


def _coded(code: str | None, name: str | None) -> dict | None:
    return {"code": code, "name": name} if code else None


def _area(area: Mapping | None) -> dict:
    area = area or {}
    return {level: _coded((area.get(level) or {}).get("code"), (area.get(level) or {}).get("name"))
            for level in ("district", "street", "community", "grid")}


def content_hash(case: Mapping) -> str:
    """SHA-256 of the case's canonical JSON (sorted keys, no spaces), without its key and its hash."""
    body = {k: v for k, v in case.items() if k not in ("idempotency_key", "content_hash")}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def case_object(row: Mapping, zone: ZoneInfo) -> dict:
    """One ticket as an `exchange/1` case (docs/exchange.md, docs/schemas/exchange-case-v1.json). Free text
    (description, address) has phone numbers and e-mail addresses masked; reporters are never named."""
    status = row["status"]
    label = STATUS_LABELS.get(status)
    result = None
    if status == "closed":
        result = "closed"
    elif status == "rejected":
        result = "merged" if row.get("merged_into") else "rejected"
    channel = row.get("channel")
    kind = row.get("category_kind")
    minor = _coded(row.get("category"), row.get("category_name"))
    major = _coded(row.get("major_code"), row.get("major_name"))
    times = dict(zip(_STAGES, (row.get("reported_at"), row.get("registered_at"), row.get("dispatched_at"),
                               row.get("acknowledged_at"), row.get("handled_at"), row.get("verified_at"),
                               row.get("close_at") or row.get("closed_at"), row.get("rejected_at")), strict=True))
    location = None
    if row.get("lon") is not None:
        location = {"crs": "WGS84", "lon": round(row["lon"], 7), "lat": round(row["lat"], 7)}
    case = {
        "case_no": row["ticket_no"],
        "version": row["version"],
        "updated_at": _time(row["updated_at"], zone),
        "source": {"code": channel, "name": CHANNEL_LABELS[channel].zh if channel in CHANNEL_LABELS else None},
        "type": {"code": kind, "name": KIND_NAMES.get(kind)} if kind else None,
        "category": {"major": major, "minor": minor},
        "description": mask_text(row.get("description")),
        "area": _area(row.get("area")),
        "location": location,
        "address": mask_text(row.get("address")),
        "times": {k: _time(v, zone) for k, v in times.items()},
        "deadlines": {"acknowledge": _time(row.get("ack_due"), zone), "handle": _time(row.get("handle_due"), zone),
                      "current": _time(row.get("deadline"), zone)},
        "unit": _coded(row.get("unit_code"), row.get("unit_name")),
        "assist_units": list(row.get("assist_codes") or []),
        "status": {"code": status, "name": label.zh if label else status},
        "result": {"code": result, "name": RESULTS[result]} if result else None,
        "merged_into": row.get("merged_into"),
        "overdue": row.get("deadline_state") == "red" or bool(row.get("handled_late")),
        "deadline_state": row.get("deadline_state"),
        "escalation_level": row.get("escalation_level") or 0,
        "priority": row.get("priority"),
        "report_count": row.get("report_count") or 0,
        "returns": row.get("returns") or 0,
    }
    digest = content_hash(case)
    key = f"{case['case_no']}:v{case['version']}:{digest[7:23]}"
    return {"case_no": case["case_no"], "idempotency_key": key, "content_hash": digest, **case}


# --- the wire ------------------------------------------------------------------------------------------------

def batch_id(first: Cursor, last: Cursor) -> str:
    """A batch's name: the window it covers, so the same window sent again has the same name."""
    return f"{first}-{last}"


def batch_body(cases: list[dict], cursor: Cursor, name: str) -> bytes:
    return json.dumps({"schema": SCHEMA, "batch": name, "cursor": str(cursor), "count": len(cases),
                       "cases": cases}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_headers(secret: str, body: bytes, timestamp: int, name: str) -> dict[str, str]:
    """The signature covers `<timestamp>.<body>` (the webhooks' HMAC-SHA256 over the timestamp and the body), so a
    receiver that refuses old timestamps refuses a replayed request."""
    return {"Content-Type": "application/json; charset=utf-8", "User-Agent": "yunguan-exchange/1",
            TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, f"{timestamp}.".encode() + body),
            BATCH_HEADER: name}


@dataclass(frozen=True)
class Reply:
    status: int | None
    body: bytes = b""
    error: str | None = None
    duration_ms: int = 0


class Receiver(Protocol):
    def post(self, body: bytes, headers: Mapping[str, str]) -> Reply: ...


def acknowledged(reply: Reply, cursor: Cursor) -> str | None:
    """None when the reply acknowledges the batch (2xx with `{"cursor": "<the batch's cursor>"}`); otherwise
    why not, in words for the record."""
    if reply.status is None:
        return reply.error or "no reply"
    if not 200 <= reply.status < 300:
        return reply.error or f"HTTP {reply.status}"
    try:
        echoed = json.loads(reply.body or b"null")
    except ValueError:
        echoed = None
    if not isinstance(echoed, dict) or echoed.get("cursor") != str(cursor):
        return f"HTTP {reply.status} without the batch's cursor {cursor} echoed (answer {{\"cursor\": \"{cursor}\"}})"
    return None


# --- the run -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExchangeConfig:
    url: str
    secret: str
    batch: int = 200
    attempts: int = 5
    backoff_s: float = 2.0
    timezone: str = "Asia/Shanghai"

    @classmethod
    def from_settings(cls, s) -> ExchangeConfig:
        return cls(s.exchange_url, s.exchange_secret, s.exchange_batch, s.exchange_attempts, s.exchange_backoff_s,
                   s.timezone)


@dataclass
class PushResult:
    sent: int = 0
    batches: int = 0
    cursor: Cursor = field(default_factory=Cursor)
    seconds: float = 0.0
    attempts: int = 0
    dry_run: bool = False
    compacted: int = 0  # superseded change rows dropped from the log (store.exchange.compact)

    def summary(self) -> dict:
        out = {"sent": self.sent, "batches": self.batches, "cursor": str(self.cursor),
               "seconds": round(self.seconds, 3), "compacted": self.compacted}
        return {**out, "dry_run": True} if self.dry_run else out


def _utcnow() -> datetime:
    return datetime.now(UTC)


def push(engine: Engine, receiver: Receiver | None, config: ExchangeConfig, *, since: Cursor | None = None,
         limit: int | None = None, dry_run: bool = False, clock: Callable[[], datetime] = _utcnow,
         sleep: Callable[[float], None] = time.sleep, emit: Callable[[dict], None] | None = None) -> PushResult:
    """Send the cases changed after the acknowledged cursor (or after `since`), at most `limit`, in batches of
    `config.batch`; each batch is tried `config.attempts` times with back-off, every attempt recorded, and the
    cursor moves to the batch's last position only once the receiver echoed it. Raises `ExchangeFailed` when a
    batch stays unacknowledged (its `result`: what was acknowledged before; the cursor stays there and the next
    run resumes), `CursorError` for a cursor ahead of the database. `dry_run`: nothing is sent or recorded;
    `emit` gets each case that would go."""
    started = time.perf_counter()
    with engine.connect() as conn:
        stored, _ = store.read_cursor(conn)
        edge = store.horizon(conn)
    if since is not None and since.xid >= edge.next_xid:
        raise CursorError(f"--since: {since} lies ahead of the database (no transaction {since.xid} yet)")
    start = since if since is not None else Cursor(*stored) if stored else Cursor()
    run = _Run(engine, receiver, config, edge.below, stored, clock, sleep,
               PushResult(cursor=start, dry_run=dry_run))
    try:
        while limit is None or run.result.sent < limit:
            size = config.batch if limit is None else min(config.batch, limit - run.result.sent)
            batch = run.next_batch(size)
            if batch is None:
                break
            cases, last = batch
            if dry_run:
                for case in cases:
                    if emit:
                        emit(case)
            else:
                run.send(cases, last)
                run.acknowledge(last)
            run.result.cursor = last
            run.result.sent += len(cases)
            run.result.batches += 1
        if not dry_run:
            with engine.begin() as conn:
                run.result.compacted = store.compact(conn, edge.below)
    except ExchangeFailed as exc:
        exc.result = run.result
        raise
    finally:
        run.result.seconds = time.perf_counter() - started
    return run.result


@dataclass
class _Run:
    """One push: where it reads up to (`below`, the horizon), the cursor it expects to move, and its record."""

    engine: Engine
    receiver: Receiver | None
    config: ExchangeConfig
    below: int
    expected: tuple[int, int] | None
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    result: PushResult
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def __post_init__(self) -> None:
        self.zone = ZoneInfo(self.config.timezone)
        self.endpoint = display_url(self.config.url) if self.config.url else ""

    def next_batch(self, size: int) -> tuple[list[dict], Cursor] | None:
        """The next cases after the run's position and the position after them; None when nothing is left."""
        with self.engine.connect() as conn:
            changes = store.next_changes(conn, self.result.cursor.pair, self.below, size)
            rows = store.cases(conn, [t for _, t in changes])
        if not changes:
            return None
        return [case_object(rows[t], self.zone) for _, t in changes if t in rows], Cursor(*changes[-1])

    def send(self, cases: list[dict], last: Cursor) -> None:
        """POST the batch until it is acknowledged, each attempt recorded; ExchangeFailed after the last."""
        first = self.result.cursor
        name = batch_id(first, last)
        body = batch_body(cases, last, name)
        error: str | None = "not tried"
        for attempt in range(1, self.config.attempts + 1):
            headers = signed_headers(self.config.secret, body, int(self.clock().timestamp()), name)
            reply = self.receiver.post(body, headers)
            error = mask_text(acknowledged(reply, last))
            self.result.attempts += 1
            with self.engine.begin() as conn:
                store.record_attempt(conn, run=self.id, at=self.clock(), endpoint=self.endpoint,
                                     cursor_from=str(first), cursor_to=str(last), cases=len(cases),
                                     attempt=attempt, ok=error is None, status_code=reply.status, error=error,
                                     duration_ms=reply.duration_ms)
            if error is None:
                return
            log.warning("exchange: batch %s attempt %d of %d failed: %s", name, attempt, self.config.attempts, error)
            if attempt < self.config.attempts:
                self.sleep(backoff(attempt, self.config.backoff_s, BACKOFF_MAX_S).total_seconds())
        raise ExchangeFailed(f"{self.endpoint} did not acknowledge batch {name} ({len(cases)} cases) after "
                             f"{self.config.attempts} attempt(s): {error}; the cursor stays at {first}, the next "
                             "push resumes there")

    def acknowledge(self, last: Cursor) -> None:
        """Move the stored cursor to `last`, if no other push moved it since this one read it."""
        with self.engine.begin() as conn:
            if not store.move_cursor(conn, self.expected, last.pair, self.clock()):
                raise ExchangeFailed("another push moved the cursor meanwhile; this one stops (the cases it sent "
                                     "carry idempotency keys, so the receiver keeps each once)")
        self.expected = last.pair


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


def status(engine: Engine, now: datetime | None = None) -> dict:
    """What operators look at: the acknowledged cursor, the cases waiting, the last success and failure, and the
    last day's attempts."""
    now = now or _utcnow()
    with engine.connect() as conn:
        stored, moved_at = store.read_cursor(conn)
        edge = store.horizon(conn)
        waiting = store.pending(conn, stored or (0, 0), edge.below)
        ok, failed = store.last_attempt(conn, True), store.last_attempt(conn, False)
        day = store.attempts_since(conn, now - timedelta(days=1))
    return {"cursor": str(Cursor(*stored)) if stored else None, "cursor_moved_at": _iso(moved_at),
            "pending": waiting, "last_success": {k: _iso(v) for k, v in ok.items()} if ok else None,
            "last_failure": {k: _iso(v) for k, v in failed.items()} if failed else None, "last_24h": day}

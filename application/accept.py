"""Accept a report: the intake protocol every channel adapter calls (the JSON API today; Open311 and others next).

Two steps, so an adapter can keep side effects of its own between them (the JSON API stores photos only once
the envelope is valid, so a refused report leaves no file behind):

1. `prepare` completes the envelope (a report id and a receipt time when the caller gave none, the grid
   worker's account as reporter id) and validates it: storable values, a plausible `reported_at`, a 小类
   category, a priority only sensors may raise. Refusals name the field (`Refused`).
2. `accept` claims the (channel, report_id) in intake_log (a re-send of the same body is answered as before; a
   different body under the same id is `Conflict`), puts the report on its topic through the `Publisher`, and
   marks it accepted. When the broker does not acknowledge, the report is marked refused — a late copy on the
   topic is then skipped by the worker — and `NotQueued` tells the adapter to answer 503; if the worker had
   already written it, it counts as accepted after all (decision 0015).
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from application.envelope import EnvelopeError, ReportEnvelope, validate_envelope
from dispatch.errors import DispatchError
from dispatch.intake import check_report
from dispatch.taxonomy import Taxonomy
from store import intake_log

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge in time; nothing may be reported as accepted."""


class Publisher(Protocol):
    """Puts one report on a topic and returns once the broker acknowledged it (streams.producer has the Kafka
    one). After a failure it may answer `retry_after() > 0` for a moment: reports are refused at once then."""

    def retry_after(self) -> float: ...

    def publish(self, channel: str, report_id: str, value: dict) -> None: ...


class Refused(ValueError):
    """The report is not acceptable as sent; `fields` names what to fix (422)."""

    def __init__(self, reason: str, fields: dict[str, str]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields


class Conflict(ValueError):
    """The report id was used on this channel for a different body (422)."""


class NotQueued(RuntimeError):
    """The broker did not acknowledge: the report was not accepted and will not become a ticket (503)."""

    def __init__(self, report_id: str, why: str, retry_after_s: float) -> None:
        super().__init__(why)
        self.report_id = report_id
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Accepted:
    report_id: str
    channel: str
    published: bool  # False: a re-send of a report accepted before (answered the same, nothing published)


def prepare(body: dict, channel: str, *, now: datetime, future_skew: timedelta, taxonomy: Taxonomy,
            reporter_id: str | None = None) -> ReportEnvelope:
    """The complete, validated envelope for `body` (the envelope as sent, `schema` optional) on `channel`."""
    if "schema" in body and body["schema"] != "report/1":
        raise Refused("unsupported schema", {"schema": "must be report/1 or omitted"})
    envelope = dict(body, schema="report/1", channel=channel)
    envelope.setdefault("report_id", uuid.uuid4().hex)
    envelope.setdefault("reported_at", now.isoformat())
    if reporter_id is not None:
        reporter = envelope.get("reporter") if isinstance(envelope.get("reporter"), dict) else {}
        envelope["reporter"] = {**reporter, "id": reporter_id}
    try:
        report = validate_envelope(envelope, now, future_skew)
    except EnvelopeError as exc:
        raise Refused(exc.reason, exc.fields) from None
    try:
        check_report(taxonomy, report)
    except DispatchError as exc:
        raise Refused(exc.message, dict(exc.fields or {})) from None
    return report


def body_sha256(body: dict) -> str:
    """What makes a re-send the same report: the body as sent (photos included by their hashes)."""
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def accept(engine: Engine, publisher: Publisher, report: ReportEnvelope, body: dict) -> Accepted:
    """Claim, publish, mark accepted — or raise Conflict / NotQueued (see the module docstring)."""
    channel, report_id = report.channel, report.report_id
    value = report.to_json_dict()
    with engine.begin() as conn:
        claimed = intake_log.claim(conn, channel, report_id, body_sha256(body), value)
    if claimed.conflict:
        raise Conflict(f"report {report_id!r} was already submitted on channel {channel!r} with a different "
                       "body; use a new report_id for a new report")
    if not claimed.publish:
        return Accepted(report_id, channel, published=False)
    wait = publisher.retry_after()
    if wait:
        return _refuse(engine, report, "the broker did not acknowledge a moment ago", wait)
    try:
        publisher.publish(channel, report_id, value)
    except BrokerUnavailable as exc:
        return _refuse(engine, report, str(exc), max(publisher.retry_after(), 1.0))
    try:
        with engine.begin() as conn:
            intake_log.mark_accepted(conn, channel, report_id)
    except SQLAlchemyError as exc:  # on the topic already: accepted, whatever the log says (reconcile uses it)
        log.warning("report %s/%s accepted but not marked in intake_log: %s", channel, report_id, exc)
    return Accepted(report_id, channel, published=True)


def _refuse(engine: Engine, report: ReportEnvelope, why: str, retry_after_s: float) -> Accepted:
    """Mark the report refused and raise NotQueued — unless the worker already wrote it: then it is accepted."""
    with engine.begin() as conn:
        refused = intake_log.refuse(conn, report.channel, report.report_id)
    if not refused:
        return Accepted(report.report_id, report.channel, published=True)
    log.warning("report %s/%s not accepted: %s", report.channel, report.report_id, why)
    raise NotQueued(report.report_id, why, retry_after_s)

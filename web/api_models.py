"""The pydantic models of the native JSON API: query strings, JSON bodies, answers and the error body.

Views validate their input with these models (web.openapi.documented) and the OpenAPI document is generated
from them, so what the document says a parameter takes is what the view accepts. The rules mirror the
contract and the checks the views made by hand before (decision 0014): a number is finite, an instant
carries its UTC offset, a date is YYYY-MM-DD of the city's calendar, a boolean is true/false/1/0.
Answers allow extra keys (a client must ignore what it does not know) but type each key they name.
"""
from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, WithJsonSchema, create_model

from application.envelope import ReportEnvelope
from dispatch import kpi
from dispatch.kpi import BREAKDOWNS, COUNTS
from dispatch.lifecycle import MAX_ESCALATION_LEVEL
from dispatch.vocabulary import CHANNEL_PUBLISHERS, STATUS_LABELS
from gis.crs import Crs
from store.queries import SORTS

# --- value types of query strings --------------------------------------------------------------------------


def _finite(value):
    """`float()` also reads "nan" and "inf", which no coordinate or distance can be."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("must be a finite number") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def _boolean(value):
    if isinstance(value, bool):
        return value
    lowered = str(value).lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError("must be true or false")


def _instant(value):
    """RFC 3339 with an offset, in UTC (PostgreSQL refuses offsets beyond ±15:59 that Python reads)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError("must be RFC 3339") from None
    if parsed.tzinfo is None:
        raise ValueError("must include a UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


def _day(value):
    if isinstance(value, date):
        return value
    try:
        if len(str(value)) != 10:
            raise ValueError(value)
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError("must be a date YYYY-MM-DD (the city's calendar)") from None


Finite = Annotated[float, BeforeValidator(_finite), WithJsonSchema({"type": "number"})]
Boolean = Annotated[bool, BeforeValidator(_boolean), WithJsonSchema({"type": "boolean"})]
Instant = Annotated[datetime, BeforeValidator(_instant),
                    WithJsonSchema({"type": "string", "format": "date-time",
                                    "description": "RFC 3339 with a UTC offset"})]
Day = Annotated[date, BeforeValidator(_day), WithJsonSchema({"type": "string", "format": "date"})]
Cursor = Annotated[int, Field(ge=1, le=2**62, description="next_cursor of the previous page")]
CrsName = Literal[tuple(str(c) for c in Crs)]
StatusName = Literal[tuple(str(s) for s in STATUS_LABELS)]
SubclassCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="a 小类 code (six digits)")]


class Query(BaseModel):
    """Unknown parameters are ignored (a client may add its own cache busters)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=False)


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- errors --------------------------------------------------------------------------------------------------

class ErrorDetail(Model):
    code: str = Field(description="machine-readable, e.g. invalid_query, invalid_body, not_found, forbidden")
    message: str = Field(description="for people")
    fields: dict[str, str] | None = Field(None, description="each offending parameter or JSON path: why")
    allowed: list[str] | None = Field(None, description="the actions the caller may take instead (403, 422)")
    current_version: int | None = Field(None, description="the ticket's version now (409)")


class Error(BaseModel):
    """The contract's error body, for every 4xx and 5xx of the API."""

    error: ErrorDetail


# --- authentication ------------------------------------------------------------------------------------------

LoginText = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    username: Annotated[LoginText, Field(min_length=1, max_length=64)]
    password: Annotated[LoginText, Field(min_length=1, max_length=1024)]
    otp: Annotated[LoginText, Field(max_length=16, description="the TOTP code, when the account has one")] | None = None


class Token(Model):
    token: str
    role: str
    unit: str | None
    grid: str | None


class Revoked(Model):
    status: Literal["revoked"]


# --- reports -------------------------------------------------------------------------------------------------

class ReportRequest(RootModel[dict[str, Any]]):
    """The report envelope v1 (contract §3) as a client sends it: `schema`, `channel` (default public),
    `report_id` (default a new one) and `reported_at` (default now) may be left out. Validated by
    application.accept with application.envelope.ReportEnvelope, whose schema this is."""

    @classmethod
    def model_json_schema(cls, *args, **kwargs) -> dict:
        schema = ReportEnvelope.model_json_schema(*args, **kwargs)
        schema["required"] = [r for r in schema.get("required", ()) if r not in
                              ("schema", "channel", "report_id", "reported_at")]
        schema["title"] = "ReportRequest"
        return schema


REPORT_FORM_SCHEMA = {
    "type": "object", "required": ["report"],
    "properties": {
        "report": {"type": "string", "description": "the envelope as JSON text (contentMediaType application/json)",
                   "contentMediaType": "application/json"},
        "photos": {"type": "array", "items": {"type": "string", "contentMediaType": "image/*"},
                   "description": "JPEG, PNG or WebP photos (re-encoded; at most upload_max_files)"},
    },
}
MEDIA_FORM_SCHEMA = {
    "type": "object", "required": ["photos"],
    "properties": {"photos": {"type": "array", "minItems": 1, "items": {"type": "string", "contentMediaType": "image/*"},
                              "description": "JPEG, PNG or WebP photos"}},
}


class ReportAccepted(Model):
    report_id: str
    channel: Literal[tuple(CHANNEL_PUBLISHERS)]
    status: Literal["accepted"]


class ReportStatus(Model):
    status: Literal["received", "ticketed", "rejected", "accepted", "failed"] | str
    ticket_no: str | None = None
    ticket_status: str | None = None


# --- tickets -------------------------------------------------------------------------------------------------

class Named(Model):
    code: str | None
    name: str | None = None


class AreaPath(Model):
    """Where a ticket is, level by level (each null where the point lies outside every area of that level)."""

    district: Named | None = None
    street: Named | None = None
    community: Named | None = None
    grid: Named | None = None


class Assignee(Model):
    code: str
    name: str | None = None
    level: str | None = None


class LonLat(Model):
    lon: float
    lat: float


class TicketSummary(Model):
    """A ticket in a list (contract §4: the fields of ticket event v1 and the list's own)."""

    ticket_no: str
    status: str
    version: int
    category: str | None
    assignee: Assignee | None
    area: AreaPath | None
    location: LonLat | None = Field(description="WGS-84")
    deadline: str | None = Field(description="RFC 3339; the running clock's deadline")
    escalation_level: int
    description: str | None
    address: str | None
    routing: dict[str, Any] | None = Field(description="the routing decision (contract §4)")
    created_at: str
    updated_at: str
    deadline_state: str | None
    report_count: int
    assists: list[str]
    priority: str
    border_check: bool
    channel: str | None


class HistoryEntry(Model):
    """One step of a ticket's history, oldest first; the public view has `at`, `action` and `to` only."""

    at: str
    action: str
    to: str | None = None
    from_: str | None = Field(None, alias="from")
    actor: str | None = None
    role: str | None = None
    party: str | None = None
    note: str | None = None
    data: dict[str, Any] | None = Field(None, description="the step's particulars; data.deadline when it sets one")


class Deadlines(Model):
    acknowledge: str | None
    handle: str | None


class ReportRef(Model):
    channel: str
    report_id: str
    reported_at: str
    reporter: dict[str, Any] | None = Field(None, description="name and masked phone")
    attachments: list[dict[str, Any]]


class Ticket(Model):
    """A ticket as the caller may see it: staff in scope get the whole record (the list's fields, `deadlines`,
    `reports`, the full `history`) with `actions` (what they may do now); anyone else the public view (number,
    status, category, times, history of steps)."""

    ticket_no: str
    status: str
    category: str | None = None
    version: int | None = None
    actions: list[Any] | None = None
    history: list[HistoryEntry] | None = None
    split_into: str | None = None
    merged_into: str | None = None
    assignee: Assignee | None = None
    area: AreaPath | None = None
    location: LonLat | None = None
    deadlines: Deadlines | None = None
    reports: list[ReportRef] | None = None


JsonNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # a JSON number, not "125.4"


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: JsonNumber
    lat: JsonNumber
    crs: CrsName = "wgs84"


class AttachmentRef(BaseModel):
    model_config = ConfigDict(extra="allow")

    sha256: Annotated[str, Field(max_length=64)]


class ActionRequest(BaseModel):
    """The contract's action body (§4): `action` and the `version` acted on, and the fields that action takes."""

    model_config = ConfigDict(extra="forbid")

    action: Annotated[str, Field(min_length=1, max_length=64, description="one of the contract's actions")]
    version: Annotated[int, Field(strict=True, ge=1, description="the ticket version you acted on")]
    note: Annotated[str, Field(max_length=2000)] | None = None
    to_unit: Annotated[str, Field(max_length=32)] | None = None
    category: Annotated[str, Field(max_length=16)] | None = None
    minutes: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    park: Annotated[bool, Field(strict=True)] | None = None
    level: Annotated[int, Field(strict=True, ge=1, le=MAX_ESCALATION_LEVEL)] | None = None
    report: Annotated[str, Field(max_length=200, description='split: "channel/report_id"')] | None = None
    attachments: list[AttachmentRef] | None = Field(None, description="photos uploaded with POST /api/v1/media")
    location: Point | None = Field(None, description="locate: the point, in crs (default wgs84)")
    into: Annotated[str, Field(max_length=64)] | None = None


class UploadedAttachment(Model):
    sha256: str
    media_type: str
    url: str


class Uploaded(Model):
    attachments: list[UploadedAttachment]


class TicketListQuery(Query):
    status: list[StatusName] | None = Field(None, description="repeatable: status=dispatched&status=handled")
    unit: str | None = None
    district: str | None = None
    since: Instant | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    cursor: Annotated[str, Field(max_length=64, description="next_cursor of the previous page, same sort")] | None = None
    deadline_state: Literal["green", "yellow", "red"] | None = None
    border_check: Boolean | None = None
    sort: Literal[SORTS] = "newest"


class TicketPage(Model):
    items: list[TicketSummary]
    next_cursor: str | None


class NearbyTicket(TicketSummary):
    distance_m: float


class NearbyTickets(Model):
    items: list[NearbyTicket]


class NearbyQuery(Query):
    lon: Finite
    lat: Finite
    crs: CrsName = "wgs84"
    radius_m: Annotated[Finite, Field(ge=1, le=2000)] = 200.0
    category: SubclassCode | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class PlacesQuery(Query):
    q: Annotated[str, Field(min_length=1, max_length=64)]
    limit: Annotated[int, Field(ge=1, le=50)] = 10

    model_config = ConfigDict(str_strip_whitespace=True)


class TicketUnitsQuery(Query):
    q: Annotated[str, Field(max_length=64)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50

    model_config = ConfigDict(str_strip_whitespace=True)


class JsonList(RootModel[list[dict[str, Any]]]):
    pass


class JsonObject(Model):
    """An object whose keys the contract lists (see the operation's description)."""


# --- routing and areas ---------------------------------------------------------------------------------------

class RouteQuery(Query):
    lon: Finite
    lat: Finite
    crs: CrsName = "wgs84"
    category: Annotated[str, Field(max_length=16)] | None = None


class RouteDecision(Model):
    area: dict[str, Any]
    assignee: dict[str, Any] | None = None


class AreasQuery(Query):
    level: Literal["district", "street", "community", "grid"] | None = None
    simplify_m: Annotated[Finite, Field(description="simplify outlines by this many metres (0–500)")] = 0.0


class FeatureCollection(Model):
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


# --- evaluation ----------------------------------------------------------------------------------------------

class PeriodQuery(Query):
    from_: Day | None = Field(None, alias="from", description="first day (default: first of this month)")
    to: Day | None = Field(None, description="day after the last (exclusive; default: first of next month)")


class EvaluationQuery(PeriodQuery):
    by: Literal[BREAKDOWNS] = "unit"


class XlsxQuery(PeriodQuery):
    by: Literal[BREAKDOWNS] | None = Field(None, description="the breakdown whose sheet comes first")


class CasesQuery(EvaluationQuery):
    key: Annotated[str, Field(min_length=1, max_length=32, description="the row's code (`none` for the row without one)")]
    count: Literal[tuple(COUNTS)]
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50

    model_config = ConfigDict(str_strip_whitespace=True)


class CasesCsvQuery(EvaluationQuery):
    key: Annotated[str, Field(min_length=1, max_length=32)]
    count: Literal[tuple(COUNTS)]

    model_config = ConfigDict(str_strip_whitespace=True)


class HotspotsQuery(PeriodQuery):
    level: Literal["grid", "community", "street", "district"] = "grid"
    category: Annotated[str, Field(max_length=16, description="any level of the taxonomy")] | None = None
    simplify_m: Finite = 0.0


# The nine counts and seven rates are named once, in the domain (dispatch.kpi): the document follows them.
EvaluationCounts = create_model("EvaluationCounts", __base__=Model,
                                **{name: (int, Field(description=why)) for name, why in kpi.COUNTS.items()})
EvaluationRates = create_model("EvaluationRates", __base__=Model, **{
    name: (float | None, Field(description=f"{num} / {den} ({zh}); null when {den} = 0"))
    for name, (num, den, zh) in kpi.RATES.items()})


class EvaluationRow(Model):
    key: Named
    counts: EvaluationCounts
    rates: EvaluationRates
    score: float | None
    rank: int | None = Field(description="1 = best; null below evaluation_min_dispatched or without a score")


class Boards(Model):
    red: list[str | None]
    black: list[str | None]


class EvaluationTable(Model):
    by: str
    from_: str = Field(alias="from")
    to: str
    evaluated_at: str
    formulas: dict[str, str]
    weights: dict[str, float]
    min_dispatched: int = Field(description="rows with fewer first dispatches are listed without a rank")
    boards: Boards
    rows: list[EvaluationRow]


class EvaluationCase(TicketSummary):
    lead_unit: str | None
    first_dispatched_at: str | None


class CasesPage(Model):
    items: list[EvaluationCase]
    next_cursor: str | None
    total: int | None = None


# --- lifeline devices ----------------------------------------------------------------------------------------

class DevicesQuery(Query):
    status: Literal["normal", "alarm", "offline"] | None = None
    kind: Annotated[str, Field(max_length=32)] | None = None
    limit: Annotated[int, Field(ge=1, le=5000)] = 500
    cursor: Annotated[str, Field(max_length=64)] | None = None


class DeviceRangeQuery(Query):
    from_: Instant | None = Field(None, alias="from", description="default: a day before `to`")
    to: Instant | None = Field(None, description="default: now")


class DeviceMapQuery(Query):
    kind: Annotated[str, Field(max_length=32)] | None = None
    limit: Annotated[int, Field(ge=1, le=20000)] = 20000


class DevicePage(Model):
    items: list[dict[str, Any]]
    next_cursor: str | None


class Readings(Model):
    device_id: str
    bin_s: int | None
    metrics: dict[str, list[dict[str, Any]]]


class DeviceMap(Model):
    fields: list[str]
    rows: list[list[Any]]
    truncated: bool


class DeviceSummary(Model):
    total: int
    status: dict[str, int]
    alarm_levels: dict[str, int]
    kinds: dict[str, dict[str, int]]


class Device(Model):
    device_id: str
    kind: str
    status: str
    tickets: list[Any]
    thresholds: dict[str, list[dict[str, Any]]]


# --- notifications, screen, health ---------------------------------------------------------------------------

class DeliveriesQuery(Query):
    failed: Boolean | None = Field(None, description="only dead deliveries and pending ones whose last try failed")
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    cursor: Cursor | None = None


class DeliveryPage(Model):
    items: list[dict[str, Any]]
    next_cursor: str | None


class ScreenFigures(Model):
    at: str
    day: str


class Health(Model):
    status: str


class HealthProblem(Model):
    code: str
    params: dict[str, Any]
    text: str


class Readiness(Model):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]
    problems: dict[str, list[HealthProblem]]
    # The lifeline and notify consumers (contract extension): told here and in the console, never a 503.
    warnings: dict[str, list[HealthProblem]]

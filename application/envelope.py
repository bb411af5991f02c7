"""Report envelope v1 (contract §3): the one schema for Kafka intake and HTTP intake.

Pydantic is the source of truth; docs/schemas/report-envelope-v1.json is generated from it
(`yunguan schema`). Every rejection names the field and says what a person should fix.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from application import storable
from dispatch.vocabulary import CHANNELS
from gis.crs import CHINA_BOUNDS, Crs, in_china_bounds

SCHEMA = "report/1"
Channel = Literal[CHANNELS]  # the values of dispatch.vocabulary.CHANNELS, in its order

# A Kafka message larger than this is dead-lettered before it is decoded; an HTTP body before it is parsed.
MAX_ENVELOPE_BYTES = 64 * 1024
# Extension fields (a sensor's device id and reading, an app's own ids) together, as JSON.
MAX_EXTENSION_BYTES = 8 * 1024
# Real UTC offsets run from -12:00 to +14:00; PostgreSQL refuses some that Python accepts (+23:00).
MAX_OFFSET = timedelta(hours=14)
# Reports older than this are clock errors, not history (the platform did not exist).
EARLIEST = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
# A device or phone clock may run a little fast; beyond this a report from the future is refused.
DEFAULT_FUTURE_SKEW = timedelta(minutes=5)


def _number(value):
    # JSON numbers only: "125.3" as a string is a client bug worth reporting, not coercing.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a JSON number, got {type(value).__name__}")
    return float(value)


Number = Annotated[float, BeforeValidator(_number)]
ShortText = Annotated[str, Field(max_length=200)]


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: Number
    lat: Number
    crs: Crs = Crs.WGS84

    @model_validator(mode="after")
    def _inside_china(self) -> Location:
        if not in_china_bounds(float(self.lon), float(self.lat)):
            raise ValueError(
                f"point ({self.lon}, {self.lat}) is outside China's range "
                f"(lon {CHINA_BOUNDS[0]}–{CHINA_BOUNDS[2]}, lat {CHINA_BOUNDS[1]}–{CHINA_BOUNDS[3]}); "
                "are longitude and latitude swapped?"
            )
        return self


class Reporter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ShortText | None = None
    name: ShortText | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9][0-9 \-]{2,30}$")] | None = None


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    media_type: Annotated[str, Field(pattern=r"^image/(jpeg|png|webp)$")]
    url: Annotated[str, Field(max_length=500)]


class ReportEnvelope(BaseModel):
    """Unknown top-level keys are kept (extension fields, e.g. a sensor's device id and reading)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_: Literal["report/1"] = Field(alias="schema")
    report_id: Annotated[str, Field(min_length=1, max_length=64)]
    channel: Channel
    reported_at: AwareDatetime
    category: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    location: Location | None = None
    address: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    reporter: Reporter | None = None
    attachments: Annotated[list[Attachment], Field(max_length=9)] = []

    @field_validator("reported_at")
    @classmethod
    def _plausible_time(cls, value: datetime, info: ValidationInfo) -> datetime:
        offset = value.utcoffset()
        if offset is not None and abs(offset) > MAX_OFFSET:
            raise ValueError("UTC offset out of range (real offsets run from -12:00 to +14:00)")
        if value < EARLIEST:
            raise ValueError(f"before {EARLIEST.date()}: check the device's clock")
        now = (info.context or {}).get("now")
        if now is not None:
            skew = (info.context or {}).get("skew", DEFAULT_FUTURE_SKEW)
            if value > now + skew:
                raise ValueError(f"in the future (later than the receipt time {now.isoformat()} plus "
                                 f"{int(skew.total_seconds())} s): check the device's clock")
        return value

    @model_validator(mode="after")
    def _somewhere(self) -> ReportEnvelope:
        if self.location is None and not self.address:
            raise ValueError("a report needs a location or an address (both are missing)")
        return self

    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)


_FIELDS = frozenset({"schema", *ReportEnvelope.model_fields})


class EnvelopeError(ValueError):
    """Why bytes are not a valid envelope: a sentence for people and per-field messages for APIs."""

    def __init__(self, reason: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields or {}


def _field_errors(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after")) or "(envelope)"
        if loc.endswith("]"):
            loc = loc.rsplit("[", 1)[0]
        message = err["msg"].removeprefix("Value error, ")
        fields.setdefault(loc, message)
    return fields


def validate_envelope(data: dict, now: datetime | None = None,
                      skew: timedelta = DEFAULT_FUTURE_SKEW) -> ReportEnvelope:
    """Every value that passes is storable as it is (text without NUL, valid Unicode, 64-bit integers,
    finite numbers, bounded nesting and size). With `now` (the receipt time), a `reported_at` later than
    now plus `skew` is refused as well."""
    try:
        storable.check(data)
    except storable.NotStorable as exc:
        raise EnvelopeError(f"invalid envelope: {exc.path}: {exc.problem}", {exc.path: exc.problem}) from None
    extensions = {k: v for k, v in data.items() if k not in _FIELDS}
    if extensions:
        size = len(orjson.dumps(extensions))
        if size > MAX_EXTENSION_BYTES:
            name = max(extensions, key=lambda k: len(orjson.dumps(extensions[k])))
            raise EnvelopeError(
                f"invalid envelope: extension fields take {size} bytes, at most {MAX_EXTENSION_BYTES} are kept "
                f"(largest: {name})", {name: f"extension fields may take at most {MAX_EXTENSION_BYTES} bytes"})
    try:
        return ReportEnvelope.model_validate(data, context={"now": now, "skew": skew})
    except ValidationError as exc:
        fields = _field_errors(exc)
        raise EnvelopeError(
            "invalid envelope: " + "; ".join(f"{k}: {v}" for k, v in fields.items()), fields
        ) from None


def parse_envelope(raw: bytes | None, now: datetime | None = None,
                   skew: timedelta = DEFAULT_FUTURE_SKEW) -> ReportEnvelope:
    """Decode and validate a Kafka message value; raise EnvelopeError with an actionable reason."""
    import json

    if raw is None:
        raise EnvelopeError("empty message (no value); producers must send a JSON envelope")
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"message of {len(raw)} bytes; an envelope may take at most {MAX_ENVELOPE_BYTES} "
                            "(send photos as attachments by URL)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"not UTF-8 text (byte {exc.start} is invalid); envelopes are UTF-8 JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EnvelopeError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise EnvelopeError(f"not an envelope: JSON nested deeper than {storable.MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise EnvelopeError(f"not JSON that can be stored: {exc}") from None
    if not isinstance(data, dict):
        raise EnvelopeError(f"envelope must be a JSON object, got {type(data).__name__}")
    return validate_envelope(data, now, skew)


def json_schema() -> dict:
    schema = ReportEnvelope.model_json_schema(by_alias=True)
    schema["$id"] = "https://yunguan.invalid/schemas/report-envelope-v1.json"
    schema["title"] = "Yunguan report envelope v1"
    return schema

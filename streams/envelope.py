"""Report envelope v1 (contract §3): the one schema for Kafka intake and HTTP intake.

Pydantic is the source of truth; docs/schemas/report-envelope-v1.json is generated from it
(`yunguan schema`). Every rejection names the field and says what a person should fix.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from gis.crs import CHINA_BOUNDS, Crs, in_china_bounds

SCHEMA = "report/1"
Channel = Literal["grid", "hotline", "public", "sensor"]


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

    @model_validator(mode="after")
    def _somewhere(self) -> ReportEnvelope:
        if self.location is None and not self.address:
            raise ValueError("a report needs a location or an address (both are missing)")
        return self

    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)


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


def validate_envelope(data: dict) -> ReportEnvelope:
    try:
        return ReportEnvelope.model_validate(data)
    except ValidationError as exc:
        fields = _field_errors(exc)
        raise EnvelopeError(
            "invalid envelope: " + "; ".join(f"{k}: {v}" for k, v in fields.items()), fields
        ) from None


def parse_envelope(raw: bytes | None) -> ReportEnvelope:
    """Decode and validate a Kafka message value; raise EnvelopeError with an actionable reason."""
    import json

    if raw is None:
        raise EnvelopeError("empty message (no value); producers must send a JSON envelope")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"not UTF-8 text (byte {exc.start} is invalid); envelopes are UTF-8 JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EnvelopeError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise EnvelopeError(f"envelope must be a JSON object, got {type(data).__name__}")
    return validate_envelope(data)


def json_schema() -> dict:
    schema = ReportEnvelope.model_json_schema(by_alias=True)
    schema["$id"] = "https://yunguan.invalid/schemas/report-envelope-v1.json"
    schema["title"] = "Yunguan report envelope v1"
    return schema

"""Open311 GeoReport v2 under /open311/v2/ (contract §9; docs/open311.md): parse, call, render JSON or XML.

Every answer is the spec's: a list in JSON (the Spark convention), the matching elements in XML (standard
library's ElementTree, which escapes text), UTF-8 with the spec's content types. Every refusal is the spec's
error list, `[{"code": <HTTP status>, "description": ...}]` or `<errors><error>`, with that status: 403 for a
missing, unknown or revoked `api_key`, 404 for what does not exist (a service, a request, a token, a path),
400 for any other bad input (naming the parameter), 429 past a key's rate, 503 when the broker did not take
the report (retry later; nothing was accepted). A POST goes through `application.accept` like the JSON API's
`submit_report`: one intake protocol for every channel; the key's channel is the report's.
"""
from __future__ import annotations

import math
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from application import accept
from application import open311 as spec
from store import apikeys
from store import open311 as queries

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

PREFIX = "/open311/"
CHANGESET = "2026-11-30 00:00"  # when the interface last changed (the discovery document's `changeset`)
# Requests per key (flask-limiter's storage, so several web processes share the count when it is Redis);
# the app may override it with config OPEN311_POST_RATE_LIMIT.
POST_RATE_LIMIT = "30/minute;500/hour"
TOKEN_PREFIX = "o311-"
_TOKEN = re.compile(r"o311-[0-9a-f]{32}")
_CODE = re.compile(r"[0-9A-Za-z_.-]{1,32}")
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Field bounds of a POST (the envelope's own limits where it has one, so refusals name Open311's names).
MAX_DESCRIPTION = 2000
MAX_ADDRESS = 500
MAX_NAME_PART = 60
MAX_EMAIL = 254
MAX_URL = 500
MAX_ID = 64
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}")
_PHONE = re.compile(r"\+?[0-9][0-9 \-]{2,30}")
# Envelope fields named as an Open311 client sent them, for refusals that come from application.accept.
_FIELD_NAMES = {"location.lat": "lat", "location.lon": "long", "location": "lat/long", "address": "address_string",
                "category": "service_code", "reporter.phone": "phone", "reporter.name": "first_name/last_name",
                "description": "description", "(envelope)": "lat/long or address_string"}


class Open311Error(Exception):
    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


# --- rendering ------------------------------------------------------------------------------------------------

def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return _INVALID_XML.sub("", str(value))


def _element(tag: str, value) -> ET.Element:
    """A value as the spec's XML: dicts as child elements, a list `xs` as repeated `x` children."""
    el = ET.Element(tag)
    if isinstance(value, dict):
        for k, v in value.items():
            el.append(_element(k, v))
    elif isinstance(value, list):
        for v in value:
            el.append(_element(tag[:-1], v))
    else:
        el.text = _text(value)
    return el


def _xml(root: str, value) -> Response:
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(_element(root, value), encoding="unicode")
    return Response(body.encode("utf-8"), content_type="text/xml; charset=utf-8")


def render(fmt: str, root: str, value, status: int = 200, headers: dict | None = None) -> Response:
    """`value` in the format asked for: JSON as it is, XML under `root` (a list's items named `root[:-1]`,
    or by `item` for the spec's `service_requests`/`request`)."""
    if fmt == "json":
        response = jsonify(value)
        response.content_type = "application/json; charset=utf-8"
    else:
        if root == "service_requests":  # the spec's one irregular plural
            body = ET.Element(root)
            for v in value:
                body.append(_element("request", v))
            response = Response(('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(body, encoding="unicode"))
                                .encode("utf-8"), content_type="text/xml; charset=utf-8")
        else:
            response = _xml(root, value)
    response.status_code = status
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def _path_format() -> str:
    return "json" if request.path.endswith(".json") else "xml"  # XML is the spec's required format


def error_response(status: int, description: str, headers: dict | None = None) -> Response:
    """The spec's error list with the HTTP status; also used by web.errors for /open311/ paths (whose 422s,
    e.g. request hygiene's refusal of a JSON value, are the spec's 400: any other bad input)."""
    status = 400 if status == 422 else status
    return render(_path_format(), "errors", [{"code": status, "description": description}], status, headers)


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error):
    return error_response(exc.status, exc.description, exc.headers)


# --- shared pieces --------------------------------------------------------------------------------------------

def _deps():
    return current_app.extensions["yunguan"]


def _taxonomy():
    return _deps().loop()().taxonomy


def _zone() -> ZoneInfo:
    return ZoneInfo(_deps().settings.timezone)


def _arg(name: str, limit: int) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None  # the spec: an empty optional argument is an absent one
    if len(raw) > limit:
        raise Open311Error(400, f"{name}: at most {limit} characters")
    return raw.strip()


def _list_arg(name: str, limit: int, item_limit: int) -> tuple[str, ...]:
    values = [v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip()]
    if len(values) > limit:
        raise Open311Error(400, f"{name}: at most {limit} values")
    for v in values:
        if len(v) > item_limit or not _CODE.fullmatch(v):
            raise Open311Error(400, f"{name}: {v[:40]!r} is not a valid value")
    return tuple(dict.fromkeys(values))


def _instant(name: str) -> datetime | None:
    raw = _arg(name, 40)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or "T" not in raw.upper():
        raise Open311Error(400, f"{name}: must be a w3/RFC 3339 date-time with an offset, e.g. "
                                "2026-01-01T00:00:00Z or 2026-01-01T08:00:00+08:00")
    offset = value.utcoffset()
    if offset is not None and abs(offset) > timedelta(hours=14):
        raise Open311Error(400, f"{name}: UTC offset out of range")
    if not 1900 <= value.year <= 9000:  # keeps the 90-day arithmetic and PostgreSQL far from their ends
        raise Open311Error(400, f"{name}: the year must be between 1900 and 9000")
    return value.astimezone(UTC)


def _request_object(row, taxonomy, zone) -> dict:
    """A ticket as the spec's request (application.open311 decides the words; only ticket data is used)."""
    category = spec.service(taxonomy, row.category) if row.category else None
    status = spec.open_or_closed(row.status)
    updated = row.closed_at if status == "closed" and row.closed_at is not None else row.updated_at
    obj = {
        "service_request_id": row.ticket_no,
        "status": status,
        "status_notes": spec.status_notes(row.last_action, row.last_status),
        "service_name": category.name if category else None,
        "service_code": row.category,
        "description": spec.mask_text(row.description),
        "agency_responsible": row.unit_name,
        "service_notice": spec.service_notice(category),
        "requested_datetime": spec.w3_datetime(row.created_at, zone),
        "updated_datetime": spec.w3_datetime(updated, zone),
        "expected_datetime": spec.w3_datetime(row.deadline, zone),
        "address": row.address,
        "lat": round(row.lat, 7) if row.lat is not None else None,
        "long": round(row.lon, 7) if row.lon is not None else None,
    }
    if row.photo:
        obj["media_url"] = f"{request.url_root}media/{row.photo}"  # served to staff only (decision 0004)
    return obj


# --- discovery and services -----------------------------------------------------------------------------------

@bp.get("/discovery.<any(json,xml):fmt>")
def discovery(fmt: str):
    doc = {
        "changeset": CHANGESET,
        "contact": "云管 Yunguan 城市运行管理服务平台 — 请联系本市数字城管指挥中心 (the city's command centre)",
        "key_service": "API 密钥由平台管理员签发 (API keys are issued by the platform's administrators: "
                       "yunguan apikeys add NAME)",
        "endpoints": [{
            "specification": spec.SPECIFICATION,
            "url": request.url_root + "open311/v2",
            "changeset": CHANGESET,
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }
    return render(fmt, "discovery", doc)


@bp.get("/services.<any(json,xml):fmt>")
def services(fmt: str):
    return render(fmt, "services", [s.as_dict() for s in spec.services(_taxonomy())])


@bp.get("/services/<code>.<any(json,xml):fmt>")
def service_definition(code: str, fmt: str):
    if len(code) > 32 or spec.service(_taxonomy(), code) is None:
        raise Open311Error(404, f"service_code {code[:32]!r} not found (GET services.{fmt} lists them)")
    # No service has attributes (metadata false in the list): the definition is the empty attribute list.
    return render(fmt, "service_definition", {"service_code": code, "attributes": []})


# --- requests -------------------------------------------------------------------------------------------------

@bp.get("/requests.<any(json,xml):fmt>")
def list_requests(fmt: str):
    ids = _list_arg("service_request_id", spec.MAX_IDS, 32)
    if ids:  # the spec: overrides every other argument
        filters = queries.Filters(ids=ids)
    else:
        codes = _list_arg("service_code", 200, 16)
        statuses = _list_arg("status", 2, 6)
        for s in statuses:
            if s not in ("open", "closed"):
                raise Open311Error(400, f"status: {s!r} is not open or closed")
        start, end = _instant("start_date"), _instant("end_date")
        span = timedelta(days=spec.MAX_SPAN_DAYS)
        if start is None and end is None:
            end = _deps().clock().astimezone(UTC)
            start = end - span
        elif start is None:
            start = end - span
        elif end is None:
            end = start + span
        if start > end:
            raise Open311Error(400, "start_date: must not be later than end_date")
        if end - start > span:
            raise Open311Error(400, f"start_date/end_date: may not span more than {spec.MAX_SPAN_DAYS} days")
        filters = queries.Filters(codes=codes, start=start, end=end, statuses=statuses)
    taxonomy, zone = _taxonomy(), _zone()
    with _deps().engine.connect() as conn:
        rows = queries.requests(conn, filters, spec.MAX_RESULTS)
    return render(fmt, "service_requests", [_request_object(r, taxonomy, zone) for r in rows])


@bp.get("/requests/<service_request_id>.<any(json,xml):fmt>")
def get_request(service_request_id: str, fmt: str):
    row = None
    if len(service_request_id) <= 32:
        with _deps().engine.connect() as conn:
            row = queries.request(conn, service_request_id)
    if row is None:
        raise Open311Error(404, f"service_request_id {service_request_id[:32]!r} not found")
    return render(fmt, "service_requests", [_request_object(row, _taxonomy(), _zone())])


@bp.get("/tokens/<token>.<any(json,xml):fmt>")
def get_token(token: str, fmt: str):
    state = None
    if _TOKEN.fullmatch(token):
        with _deps().engine.connect() as conn:
            state = queries.token(conn, list(apikeys.KEY_CHANNELS), token)
    if state is None:
        raise Open311Error(404, f"token {token[:40]!r} not found")
    if state.failed:  # the worker could not store it (dead-lettered): no request will ever come of it
        raise Open311Error(404, f"token {token[:40]!r}: the request could not be processed and was not "
                                "registered; post it again")
    item = {"token": token}
    if state.ticket_no:
        item = {"service_request_id": state.ticket_no, "token": token}
    return render(fmt, "service_requests", [item])


def _fields() -> dict:
    """The POST's arguments: form-encoded (the spec), multipart, or a JSON object (also accepted)."""
    if request.mimetype == "application/json":
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise Open311Error(400, "the body must be form-encoded (the spec) or a JSON object")
        for k, v in data.items():
            if v is not None and not isinstance(v, (str, int, float)) or isinstance(v, bool):
                raise Open311Error(400, f"{str(k)[:40]}: must be a string or a number")
        return {str(k): (None if v is None else str(v)) for k, v in data.items()}
    return {k: request.form.get(k) for k in request.form}


def _field(fields: dict, name: str, limit: int) -> str | None:
    value = fields.get(name)
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if len(value) > limit:
        raise Open311Error(400, f"{name}: at most {limit} characters")
    return value


def _coordinate(fields: dict, name: str, low: float, high: float) -> float | None:
    raw = _field(fields, name, 32)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name}: must be a number (WGS-84 degrees)") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise Open311Error(400, f"{name}: must be between {low:g} and {high:g} (WGS-84 degrees)")
    return value


def _key(fields: dict) -> apikeys.ApiKey:
    raw = fields.get("api_key") or request.args.get("api_key")
    if not raw:
        raise Open311Error(403, "api_key is required to post a request (ask the platform's administrators)")
    with _deps().engine.connect() as conn:
        key = apikeys.find(conn, raw.strip())
    if key is None:
        raise Open311Error(403, "api_key is not valid -- can't proceed with create_request")
    if not key.active:
        raise Open311Error(403, "api_key has been revoked -- can't proceed with create_request")
    return key


def _limiter():
    """(limiter, limits) from flask-limiter's `limits` package on the app's rate-limit storage; one per app."""
    from limits import parse_many
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    state = current_app.extensions.get("open311_limiter")
    if state is None:
        storage = storage_from_string(_deps().settings.rate_limit_storage)
        state = (MovingWindowRateLimiter(storage),
                 parse_many(current_app.config.get("OPEN311_POST_RATE_LIMIT", POST_RATE_LIMIT)))
        current_app.extensions["open311_limiter"] = state
    return state


def _throttle(key: apikeys.ApiKey) -> None:
    limiter, limits = _limiter()
    for item in limits:
        if not limiter.hit(item, "open311-post", key.name):
            reset = limiter.get_window_stats(item, "open311-post", key.name).reset_time
            wait = max(1, math.ceil(reset - datetime.now(UTC).timestamp()))
            raise Open311Error(429, f"too many requests for this api_key (at most {item}); retry in {wait} s",
                               {"Retry-After": str(wait)})


def _envelope(fields: dict, key: apikeys.ApiKey, taxonomy) -> tuple[dict, str | None]:
    """The report envelope of a POST, and the service notice of its category."""
    code = _field(fields, "service_code", 32)
    if code is None:
        raise Open311Error(400, "service_code is required (GET services.json lists them)")
    category = spec.service(taxonomy, code)
    if category is None:
        raise Open311Error(404, f"service_code {code!r} not found (GET services.json lists them)")
    lat = _coordinate(fields, "lat", -90, 90)
    lon = _coordinate(fields, "long", -180, 180)
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long must be sent together")
    address = _field(fields, "address_string", MAX_ADDRESS)
    address_id = _field(fields, "address_id", MAX_ID)
    if lat is None and address is None:
        raise Open311Error(400, "a location is required: lat and long (WGS-84), or address_string"
                           + (" (address_id is not known to this jurisdiction)" if address_id else ""))
    description = _field(fields, "description", MAX_DESCRIPTION)
    first, last = _field(fields, "first_name", MAX_NAME_PART), _field(fields, "last_name", MAX_NAME_PART)
    phone = _field(fields, "phone", 40)
    if phone is not None:
        phone = re.sub(r"[().]", "", phone).strip()
        if not _PHONE.fullmatch(phone):
            raise Open311Error(400, "phone: digits, spaces and hyphens, optionally a leading +")
    email = _field(fields, "email", MAX_EMAIL)
    if email is not None and not _EMAIL.fullmatch(email):
        raise Open311Error(400, "email: not an e-mail address")
    media_url = _field(fields, "media_url", MAX_URL)
    if media_url is not None and not media_url.lower().startswith(("https://", "http://")):
        raise Open311Error(400, "media_url: must be an http(s) URL")
    extra = {"api_key": key.name, "email": email, "media_url": media_url, "address_id": address_id,
             "device_id": _field(fields, "device_id", MAX_ID), "account_id": _field(fields, "account_id", MAX_ID)}
    body: dict = {"report_id": TOKEN_PREFIX + uuid.uuid4().hex, "category": code,
                  "open311": {k: v for k, v in extra.items() if v is not None}}
    if description:
        body["description"] = description
    if lat is not None:
        body["location"] = {"lon": lon, "lat": lat, "crs": "wgs84"}
    if address:
        body["address"] = address
    name = " ".join(p for p in (first, last) if p)
    reporter = {k: v for k, v in (("name", name or None), ("phone", phone)) if v}
    if reporter:
        body["reporter"] = reporter
    return body, spec.service_notice(category)


@bp.post("/requests.<any(json,xml):fmt>")
def post_request(fmt: str):
    """The spec's POST: a report on the key's channel through application.accept (as web.api.submit_report)."""
    fields = _fields()
    key = _key(fields)
    _throttle(key)
    deps = _deps()
    taxonomy = _taxonomy()
    body, notice = _envelope(fields, key, taxonomy)
    try:
        report = accept.prepare(body, key.channel, now=deps.clock(),
                                future_skew=timedelta(seconds=deps.settings.future_skew_s), taxonomy=taxonomy)
        done = accept.accept(deps.engine, deps.publisher, report, body)
    except accept.Refused as exc:
        named = "; ".join(f"{_FIELD_NAMES.get(k, k)}: {v}" for k, v in exc.fields.items()) or exc.reason
        raise Open311Error(400, named) from None
    except accept.Conflict as exc:  # a fresh report id each time: only a bug gets here
        raise Open311Error(400, str(exc)) from None
    except accept.NotQueued as exc:
        raise Open311Error(503, "the request could not be queued and was not accepted; retry later",
                           {"Retry-After": str(max(1, round(exc.retry_after_s)))}) from None
    with deps.engine.connect() as conn:
        state = queries.token(conn, [key.channel], done.report_id)
    item: dict = {"service_request_id": state.ticket_no} if state and state.ticket_no else {"token": done.report_id}
    if notice:
        item["service_notice"] = notice
    return render(fmt, "service_requests", [item])


# --- everything else under /open311/v2/ -----------------------------------------------------------------------

@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str):
    """An unknown path (or format) is the spec's 404; a known path with another method the spec's 405."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST"):
        if method == request.method:
            continue
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except (NotFound, MethodNotAllowed):
            continue
        if endpoint != "open311.not_found":
            allowed.append(method)
    if allowed:
        raise Open311Error(405, f"{request.method} is not allowed here; use {' or '.join(allowed)}",
                           {"Allow": ", ".join(allowed)})
    raise Open311Error(404, f"no such resource: {request.path[:120]} (see discovery.json)")

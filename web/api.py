"""The JSON API (contract §4): thin views that parse, call one function, render."""
from __future__ import annotations

import math
from datetime import timedelta

from flask import Blueprint, current_app, g, jsonify, request
from prometheus_client import Counter
from sqlalchemy import text

from application import accept, act, locate
from application.envelope import MAX_ENVELOPE_BYTES
from application.merge_into import merge_into
from application.routing import decide_route
from application.split import SplitRefused, split_out
from dispatch.actors import Actor, Scope
from dispatch.actors import scope_of as visible_to
from dispatch.lifecycle import MAX_ESCALATION_LEVEL, Command
from dispatch.vocabulary import CHANNEL_PUBLISHERS, is_subclass_code
from gis.areas import city_today
from gis.crs import Crs, OutsideChina, to_wgs84
from store import logins, queries
from store.users import User
from web import api_models as m
from web import hygiene, security, uploads
from web.api_models import Error
from web.auth import STAFF_ROLES, Tokens, current_user
from web.errors import ApiError
from web.openapi import Media, documented

bp = Blueprint("api", __name__, url_prefix="/api/v1")

REPORTS_ACCEPTED = Counter("yunguan_reports_accepted", "Reports accepted over HTTP (broker acknowledged)", ["channel"])

# Who may publish on which channel; residents (no account) only on `public`.
CHANNEL_ROLES = CHANNEL_PUBLISHERS  # written once in dispatch.vocabulary


def _deps():
    return current_app.extensions["yunguan"]


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object (Content-Type: application/json)")
    return data


def scope_of(user: User) -> Scope:
    return visible_to(user.role, user.unit_code, user.grid_code)


RETRY_AFTER = {"Retry-After": "seconds to wait before trying again"}


@bp.post("/auth/token")
@documented(tags=["auth"], body=m.TokenRequest, body_error=(400, "invalid_body"), auth="none",
            responses={200: m.Token, 400: Error, 401: Error, 403: Error, 413: Error, 422: Error, 429: Error, 503: Error},
            headers={429: RETRY_AFTER})
def issue_token():
    """Throttled per account and per client, every attempt recorded, TOTP `otp` when the account needs one
    (store.logins, decision 0011)."""
    body: m.TokenRequest = g.body  # validated by the model (web.openapi): text without control characters
    username, password, otp = body.username, body.password, body.otp or None
    deps = _deps()
    with deps.engine.begin() as conn:
        result = logins.log_in(conn, username, password, otp, logins.Where(security.client_address(), "api"),
                               deps.clock(), security.login_policy())
    if not result.ok:
        refusal = security.login_refusal(result)
        headers = {"Retry-After": str(result.retry_after_s)} if result.retry_after_s else {}
        return jsonify(refusal.body()), refusal.status, headers
    user = result.user
    token = Tokens(deps.settings.secret_key).issue(user)
    return jsonify({"token": token, "role": user.role, "unit": user.unit_code, "grid": user.grid_code})


@bp.post("/auth/logout")
@documented(tags=["auth"], auth="required", responses={200: m.Revoked, 401: Error, 403: Error, 503: Error})
def revoke_token():
    """Ends every token of the caller's account (and its console sockets), e.g. a lost phone."""
    from store.users import revoke_tokens

    user = current_user()
    if user is None:
        raise ApiError(401, "unauthenticated", "a bearer token is required")
    with _deps().engine.begin() as conn:
        revoke_tokens(conn, user.id)
    return jsonify({"status": "revoked"})


def _report_body() -> tuple[dict, list]:
    """JSON, or multipart/form-data with the envelope as JSON in the field `report` and photos in `photos`."""
    if request.mimetype != "multipart/form-data":
        if (request.content_length or 0) > MAX_ENVELOPE_BYTES:  # refused before it is read or parsed
            raise ApiError(413, "too_large", f"a report body may take at most {MAX_ENVELOPE_BYTES} bytes "
                           "(send photos as multipart/form-data)", {"(body)": f"at most {MAX_ENVELOPE_BYTES} bytes"})
        return _json_body(), []
    raw = request.form.get("report")
    if raw is None:
        raise ApiError(400, "bad_form", "a multipart report needs the envelope as JSON in the field `report`",
                       {"report": "required"})
    body = hygiene.loads_checked(raw)  # the same limits as a JSON body: depth, NUL, surrogates, number range
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the field `report` must be a JSON object", {"report": "must be a JSON object"})
    return body, request.files.getlist("photos")


def _photos(files: list) -> list[uploads.CleanImage]:
    """Check and re-encode every photo before anything is stored or published; name the bad one."""
    settings = _deps().settings
    if len(files) > settings.upload_max_files:
        raise ApiError(422, "too_many_photos", f"at most {settings.upload_max_files} photos per report",
                       {"photos": f"at most {settings.upload_max_files}"})
    cleaned = []
    for i, f in enumerate(files):
        try:
            cleaned.append(uploads.clean(f.read(settings.upload_max_bytes + 1), settings.upload_max_bytes,
                                         settings.upload_max_pixels))
        except uploads.UploadRefused as exc:
            raise ApiError(exc.status, "bad_photo", f"photo {i + 1} ({f.filename or 'unnamed'}): {exc}",
                           {f"photos[{i}]": str(exc)}) from None
    return cleaned


@bp.post("/reports")
@documented(tags=["reports"], body=m.ReportRequest, validate_body=False,
            form=Media("multipart/form-data", m.REPORT_FORM_SCHEMA),
            responses={202: m.ReportAccepted, 400: Error, 401: Error, 403: Error, 413: Error, 415: Error, 422: Error,
                       429: Error, 503: Error}, headers={429: RETRY_AFTER, 503: RETRY_AFTER})
def submit_report():
    """The JSON API's adapter of application.accept: parse, authorise the channel, clean the photos, call."""
    body, files = _report_body()
    channel = body.get("channel", "public")
    if not isinstance(channel, str) or channel not in CHANNEL_ROLES:
        raise ApiError(422, "invalid_envelope", "unknown channel", {"channel": f"must be one of {', '.join(CHANNEL_ROLES)}"})
    allowed = CHANNEL_ROLES[channel]
    user = current_user()
    if allowed is not None:
        if user is None:
            raise ApiError(401, "unauthenticated", f"channel {channel!r} needs a login")
        if user.role not in allowed:
            raise ApiError(403, "forbidden", f"role {user.role!r} may not report on channel {channel!r}")
    deps = _deps()
    photos = _photos(files)
    if photos:  # the stored photos' hashes are part of the body: a re-send of the same photos is the same report
        body = dict(body, attachments=[*(body.get("attachments") or []), *(p.attachment() for p in photos)])
    try:
        report = accept.prepare(body, channel, now=deps.clock(), future_skew=timedelta(seconds=deps.settings.future_skew_s),
                                taxonomy=deps.loop()().taxonomy,
                                reporter_id=user.username if channel == "grid" and user is not None else None)
        for photo in photos:  # only once the envelope is valid: a refused report leaves no file behind
            uploads.store(photo, deps.settings.media_path)
        done = accept.accept(deps.engine, deps.publisher, report, body)
    except accept.Refused as exc:
        raise ApiError(422, "invalid_envelope", exc.reason, exc.fields) from None
    except accept.Conflict as exc:
        raise ApiError(422, "report_id_conflict", str(exc), {"report_id": "already used with a different body"}) from None
    except accept.NotQueued as exc:
        raise ApiError(503, "broker_unavailable",
                       "the report could not be queued and was not accepted; retry later with the same report_id "
                       "(a retry is never counted twice)", {"report_id": exc.report_id},
                       headers={"Retry-After": str(max(1, round(exc.retry_after_s)))}) from None
    if done.published:
        REPORTS_ACCEPTED.labels(channel).inc()
    return jsonify({"report_id": done.report_id, "channel": channel, "status": "accepted"}), 202


@bp.get("/reports/<channel>/<report_id>")
@documented(tags=["reports"], auth="none", responses={200: m.ReportStatus, 400: Error, 404: Error, 503: Error})
def report_status(channel: str, report_id: str):
    """Whether a report (by its receipt: channel and report_id) has become a ticket yet."""
    if channel not in CHANNEL_ROLES:
        raise ApiError(404, "not_found", f"unknown channel {channel!r}")
    with _deps().engine.connect() as conn:
        status = queries.report_status(conn, channel, report_id)
    if status is None:
        raise ApiError(404, "not_found", "no such report has been processed (yet); retry in a moment")
    return jsonify(status)


@bp.get("/tickets/<ticket_no>")
@documented(tags=["tickets"], responses={200: m.Ticket, 400: Error, 401: Error, 404: Error, 429: Error, 503: Error},
            headers={429: RETRY_AFTER})
def get_ticket(ticket_no: str):
    """A ticket: the whole record with the caller's `actions` for staff in scope, else the public view
    (residents' look-ups share a rate limit per client)."""
    user = current_user()
    with _deps().engine.connect() as conn:
        ticket = queries.get_ticket(conn, ticket_no, scope_of(user)) if user else None
        if ticket is not None:
            ticket["actions"] = act.actions_for(conn, ticket_no, actor_of(user))
        else:
            ticket = queries.public_ticket(conn, ticket_no)
    if ticket is None:
        raise ApiError(404, "not_found", f"no ticket {ticket_no}")
    return jsonify(ticket)


ACTION_FIELDS = {"action", "version", "note", "to_unit", "category", "minutes", "park", "level", "report",
                 "attachments", "location", "into"}


def actor_of(user: User) -> Actor:
    return Actor(user.username, user.role, supervisor=user.supervisor, unit=user.unit_code, grid=user.grid_code)


def _command(body: dict) -> Command:
    """The contract's action body; every problem is named by its field (422) before the domain sees it."""
    fields: dict[str, str] = {}
    unknown = sorted(set(body) - ACTION_FIELDS)
    for name in unknown:
        fields[name] = "unknown field"
    action = body.get("action")
    if not isinstance(action, str) or not action:
        fields["action"] = "required: one of the contract's actions"
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        fields["version"] = "required: the ticket version you acted on (integer ≥ 1)"
    for name, limit in (("note", 2000), ("to_unit", 32), ("category", 16), ("into", 64)):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            fields[name] = f"must be text of at most {limit} characters"
    minutes = body.get("minutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0):
        fields["minutes"] = "must be a positive number of minutes"
    level = body.get("level")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int)
                              or not 1 <= level <= MAX_ESCALATION_LEVEL):
        fields["level"] = f"must be a rung of the ladder, 1 (street) to {MAX_ESCALATION_LEVEL} (city)"
    if body.get("location") is not None and _point(body["location"]) is None:
        fields["location"] = "must be {lon, lat, crs?}: numbers, crs one of " + ", ".join(Crs)
    if body.get("park") is not None and not isinstance(body.get("park"), bool):
        fields["park"] = "must be true or false"
    if fields:
        raise ApiError(422, "invalid_body", "the action body is invalid", fields)
    return Command(action=action, version=version, note=body.get("note"), to_unit=body.get("to_unit"),
                   category=body.get("category"), minutes=float(minutes) if minutes is not None else None,
                   park=bool(body.get("park", False)), level=level, into=body.get("into"))


@bp.post("/tickets/<ticket_no>/actions")
@documented(tags=["tickets"], roles=STAFF_ROLES, body=m.ActionRequest,
            responses={200: m.Ticket, 400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 413: Error,
                       422: Error, 503: Error})
def ticket_action(ticket_no: str):
    """Act on a ticket (contract §4): `action` with the `version` acted on; 409 when it changed meanwhile,
    403/422 with the actions `allowed` instead."""
    command = _command(_json_body())
    deps = _deps()
    with deps.engine.connect() as conn:
        if command.to_unit is not None and conn.execute(
                text("SELECT 1 FROM units WHERE code = :c"), {"c": command.to_unit}).first() is None:
            raise ApiError(422, "invalid_body", f"no unit {command.to_unit}", {"to_unit": "no such unit"})
        if command.category is not None and (not is_subclass_code(command.category) or conn.execute(
                text("SELECT 1 FROM categories WHERE code = :c"), {"c": command.category}).first() is None):
            raise ApiError(422, "invalid_body", f"no 小类 {command.category}", {"category": "no such 小类 code"})
    user = current_user()
    extra = {}
    if command.action == "split":
        extra["split_into"] = _split(deps, ticket_no, command, user)
    elif command.action == "merge_into":
        with deps.engine.begin() as conn:
            extra["merged_into"] = merge_into(conn, ticket_no, command, actor_of(user), deps.loop()(conn),
                                              now=deps.clock())
        if extra["merged_into"] is None:
            raise ApiError(404, "not_found", f"no ticket {ticket_no}")
    elif command.action == "locate":
        if locate.locate(deps.engine, ticket_no, command, _point(_json_body().get("location")), actor_of(user),
                         deps.clock(), deps.loop()(), current_app.extensions["yunguan_routing"]()) is None:
            raise ApiError(404, "not_found", f"no ticket {ticket_no}")
    elif act.act(deps.engine, ticket_no, command, actor_of(user), deps.clock(), deps.loop()(),
                  _action_attachments(_json_body().get("attachments"))) is None:
        raise ApiError(404, "not_found", f"no ticket {ticket_no}")
    with deps.engine.connect() as conn:
        ticket = queries.get_ticket(conn, ticket_no, scope_of(user))
        if ticket is None:  # e.g. a department that just returned it: the change is done, the view is gone
            ticket = queries.public_ticket(conn, ticket_no)
        else:
            ticket["actions"] = act.actions_for(conn, ticket_no, actor_of(user))
    return jsonify({**ticket, **extra})


def _point(raw) -> tuple[float, float, str] | None:
    """定位's `location` {lon, lat, crs?} as (lon, lat, crs); None when it is not one (or absent: the domain
    then names `location` as missing)."""
    if not isinstance(raw, dict) or set(raw) - {"lon", "lat", "crs"}:
        return None
    lon, lat, crs = raw.get("lon"), raw.get("lat"), raw.get("crs", "wgs84")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lon, lat)):
        return None
    return (float(lon), float(lat), crs) if crs in set(Crs) else None


def _action_attachments(raw) -> list[dict]:
    """Photos of a handling or verification: uploaded first with POST /api/v1/media, named here by hash."""
    if raw is None:
        return []
    settings = _deps().settings
    if not isinstance(raw, list) or len(raw) > settings.upload_max_files:
        raise ApiError(422, "invalid_body", "attachments must be a list of uploaded photos",
                       {"attachments": f"a list of at most {settings.upload_max_files} {{sha256}} objects"})
    out = []
    for i, item in enumerate(raw):
        sha = item.get("sha256") if isinstance(item, dict) else None
        found = uploads.find(settings.media_path, sha) if isinstance(sha, str) else None
        if found is None:
            raise ApiError(422, "invalid_body", "unknown photo", {f"attachments[{i}]": "upload it first (POST /api/v1/media)"})
        out.append({"sha256": sha, "media_type": found[1], "url": f"/media/{sha}"})
    return out


@bp.post("/media")
@documented(tags=["tickets"], roles=STAFF_ROLES, form=Media("multipart/form-data", m.MEDIA_FORM_SCHEMA),
            responses={201: m.Uploaded, 400: Error, 401: Error, 403: Error, 413: Error, 415: Error, 422: Error,
                       503: Error})
def upload_media():
    """Photos for actions (处置, 核查): checked and re-encoded like report photos; answers their attachments."""
    if request.mimetype != "multipart/form-data":
        raise ApiError(400, "bad_form", "send photos as multipart/form-data in the field `photos`", {"photos": "required"})
    photos = _photos(request.files.getlist("photos"))
    if not photos:
        raise ApiError(422, "no_photos", "no photo in the field `photos`", {"photos": "required"})
    for photo in photos:
        uploads.store(photo, _deps().settings.media_path)
    return jsonify({"attachments": [p.attachment() for p in photos]}), 201


def _split(deps, ticket_no: str, command: Command, user: User) -> str:
    """拆分 needs the report to take out: `report` is "channel/report_id" of one of the ticket's reports."""
    raw = _json_body().get("report")
    if not isinstance(raw, str) or raw.count("/") < 1:
        raise ApiError(422, "invalid_body", "split needs the report to take out", {"report": 'required: "channel/report_id"'})
    channel, report_id = raw.split("/", 1)
    settings = deps.settings
    try:
        with deps.engine.begin() as conn:
            return split_out(conn, ticket_no, (channel, report_id), command, actor_of(user),
                             current_app.extensions["yunguan_routing"](), deps.loop()(conn), now=deps.clock(),
                             timezone=settings.timezone, ticket_prefix=settings.ticket_prefix)
    except LookupError:
        raise ApiError(404, "not_found", f"no ticket {ticket_no}") from None
    except SplitRefused as exc:
        raise ApiError(422, "invalid_body", str(exc), {"report": str(exc)}) from None


@bp.get("/route")
@documented(tags=["routing"], roles=STAFF_ROLES, query=m.RouteQuery,
            responses={200: m.RouteDecision, 400: Error, 401: Error, 403: Error, 422: Error, 503: Error})
def route():
    """The routing decision for a point (contract §5): areas per level, the unit, the rule, and why."""
    query: m.RouteQuery = g.query
    try:
        lon, lat = to_wgs84(query.lon, query.lat, query.crs)
    except OutsideChina as exc:
        raise ApiError(422, "outside_china", str(exc), {"lon": "outside China", "lat": "outside China"}) from None
    return jsonify(decide_route(current_app.extensions["yunguan_routing"](), lon, lat, query.category))


@bp.get("/areas")
@documented(tags=["routing"], roles=STAFF_ROLES, query=m.AreasQuery,
            responses={200: m.FeatureCollection, 400: Error, 401: Error, 403: Error, 503: Error})
def areas():
    """The areas of one level (or all) valid today, as a GeoJSON FeatureCollection."""
    query: m.AreasQuery = g.query
    with _deps().engine.connect() as conn:
        return jsonify(queries.areas_geojson(conn, query.level, city_today(_deps().settings.timezone),
                                             simplify_m=min(max(query.simplify_m, 0.0), 500.0)))


@bp.get("/categories")
@documented(tags=["routing"], auth="none", responses={200: m.JsonList, 503: Error})
def categories():
    """The category taxonomy (部件/事件: 大类 and 小类) with the deadlines of each."""
    with _deps().engine.connect() as conn:
        return jsonify(queries.categories(conn))


# The read views of lists and suggestions (the ticket list, nearby tickets, places, units) live in
# web/api_lookup.py, 综合评价 with its exports, hotspots and trends in web/api_evaluation.py, the wall
# screen's live figures in web/api_screen.py and notification deliveries in web/api_notify.py, on this
# blueprint; importing them registers them.
from web import api_devices, api_docs, api_evaluation, api_lookup, api_notify, api_screen  # noqa: E402, F401

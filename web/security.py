"""Checks at the web's edges that do not belong to one view: where a request comes from (CSRF on the
cookie-authenticated API, the console socket's Origin), who may scrape /metrics, and login input.

The API blueprint is exempt from Flask-WTF's form check because programs call it with bearer tokens; but
`current_user()` also accepts the page session cookie, which a browser sends with requests another site
makes (a page on another port of the same host is "same-site", so SameSite=Lax does not stop it). An unsafe
request that the cookie would authenticate therefore needs the page's CSRF token (X-CSRFToken) or an Origin
(else Referer) equal to this server's own origin (decision 0011).
"""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import current_app, request, session
from flask_wtf.csrf import ValidationError, validate_csrf

from store.logins import LoginPolicy
from web.auth import current_user
from web.errors import ApiError

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str | None) -> str | None:
    """scheme://host[:port] of a URL or Origin header, lower-cased, default port dropped; None if none."""
    if not url or url == "null":
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS[parts.scheme] else "")


def own_origin() -> str | None:
    return origin_of(request.host_url)


def allowed_origins(settings) -> set[str]:
    """This server's own origin and the configured extra ones."""
    extra = {origin_of(o) for o in settings.allowed_origins.split(",") if o.strip()}
    return {o for o in (own_origin(), *extra) if o}


def _bearer() -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ")


def check_api_csrf() -> None:
    """before_request of the app, for the API blueprint (the pages have Flask-WTF's check): an unsafe request authenticated only by the page session must carry a
    valid CSRF token or come from this origin; anonymous and bearer calls pass untouched."""
    if request.blueprint != "api" or request.method not in UNSAFE_METHODS or _bearer() or not session.get("uid"):
        return
    token = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
    if token:
        try:
            validate_csrf(token)
            return
        except ValidationError:
            pass
    sent = request.headers.get("Origin") or request.headers.get("Referer")
    if sent and origin_of(sent) == own_origin():
        return
    raise ApiError(403, "csrf_failed",
                   "a request authenticated by the page session needs the page's CSRF token (X-CSRFToken) or "
                   "an Origin of this site; programs send Authorization: Bearer <token>")


def socket_origin_refusal(settings) -> str | None:
    """Why a console socket must be refused for its Origin, or None. Browsers always send Origin with a
    WebSocket and with cross-origin polling; programs usually send none, and are judged by their token."""
    sent = request.headers.get("Origin")
    if sent is None:
        return None
    if origin_of(sent) in allowed_origins(settings):
        return None
    return f"origin {sent[:100]!r} may not open console sockets (setting allowed_origins)"


def check_scraper(settings) -> None:
    """/metrics for Prometheus: the configured scrape token (compared in constant time) or an admin."""
    header = request.headers.get("Authorization", "")
    if settings.metrics_token and header.startswith("Bearer "):
        sent = header.removeprefix("Bearer ").strip().encode("utf-8", "surrogateescape")
        if hmac.compare_digest(sent, settings.metrics_token.encode("utf-8")):
            return
    user = current_user()
    if user is None:
        raise ApiError(401, "unauthenticated", "metrics need Authorization: Bearer <metrics_token or an admin's token>")
    if user.role != "admin":
        raise ApiError(403, "forbidden", "only admins and the configured scraper may read metrics")


def client_address() -> str:
    """The caller's address as Werkzeug sees it (ProxyFix has applied `trusted_proxies` already)."""
    return request.remote_addr or "unknown"


def login_text(name: str, value, limit: int, *, required: bool = True) -> str | None:
    """A login field as storable text: a string of at most `limit` characters, no control characters
    (NUL cannot be stored), valid UTF-8; anything else is a 400 naming the field."""
    if value is None or value == "":
        if required:
            raise ApiError(400, "invalid_body", f"{name} is required", {name: "required"})
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_body", f"{name} must be text", {name: "must be a string"})
    if len(value) > limit:
        raise ApiError(400, "invalid_body", f"{name} is too long", {name: f"at most {limit} characters"})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_body", f"{name} is not valid text", {name: "lone surrogate"}) from None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ApiError(400, "invalid_body", f"{name} has control characters", {name: "no control characters"})
    return value


def login_policy() -> LoginPolicy:
    return LoginPolicy.from_settings(current_app.extensions["yunguan"].settings)


_REFUSALS = {
    "throttled": (429, "too_many_attempts", "too many failed logins for this account or from this address; "
                                            "retry after the time in Retry-After", None),
    "otp_required": (401, "otp_required", "this account needs the code of its authenticator app",
                     {"otp": "required: the 6-digit TOTP code"}),
    "bad_otp": (401, "bad_otp", "wrong or already used code", {"otp": "wrong or already used code"}),
    "otp_not_enrolled": (403, "otp_not_enrolled", "this role must log in with a second factor and the account "
                                                  "has none; an admin enrols it with `yunguan users totp NAME`",
                         None),
}


def login_refusal(result) -> ApiError:
    """The API's answer to a refused login. Unknown name, wrong password and disabled account look alike."""
    status, code, message, fields = _REFUSALS.get(
        result.outcome, (401, "bad_credentials", "unknown user, wrong password or disabled account", None))
    return ApiError(status, code, message, fields)

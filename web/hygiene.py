"""Request hygiene: what reaches a view is text PostgreSQL can store and JSON Python can walk.

PostgreSQL refuses NUL in text and jsonb, UTF-8 has no lone surrogates, `json` recurses once per nesting level
and orjson and bigint stop at 64 bits. Each of these used to surface deep inside a view as a 500. Here they are
refused once, before any view runs, with an error that names the parameter or the JSON path of the first
offender (400 for a path, query or form; 422 `invalid_body` for a JSON value, like the views' own field errors):

- path segments, query arguments and form fields: `check_request`, a `before_request` hook;
- JSON bodies: `CheckedJSONProvider.loads`, so `request.get_json()` in every view returns checked data;
- JSON carried as text in a form field (a multipart report): `loads_checked`, for the view to call.
"""
from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from application import storable
from application.storable import ROOT, shown, text_problem
from web.errors import ApiError

# Objects and arrays inside each other, for every body of every view. The report envelope has its own, lower
# limit (application.storable, a 422 naming the field); this one keeps any view's JSON walk cheap and bounded.
MAX_DEPTH = 32
# The largest JSON document any view takes (report bodies have their own, lower limit: 64 KiB).
MAX_JSON_BYTES = 1024 * 1024


class JsonRefused(Exception):
    """A parsed JSON document holds a value the platform cannot store; `path` names it (`reporter.name`)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def api_error(self) -> ApiError:
        return ApiError(422, "invalid_body", f"{self.path}: {self.reason}", {self.path: self.reason})


def check_json(value, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonRefused for the first value that cannot be stored (application.storable: the same rules as the
    report envelope, one walker for both)."""
    try:
        storable.check(value, max_depth)
    except storable.NotStorable as exc:
        raise JsonRefused(exc.path, exc.problem) from None


def _parse(text: str | bytes):
    """json.loads; a document too deep for the parser itself is refused like one too deep for us."""
    try:
        return json.loads(text)
    except RecursionError:
        raise JsonRefused(ROOT, f"nested deeper than {MAX_DEPTH} levels") from None


def loads_checked(text: str | bytes):
    """Parse and check JSON text that came with a request in some other way (e.g. the multipart report's
    field `report`). Raises ApiError: 400 `bad_json` for text that is not JSON, 422 `invalid_body` naming the JSON
    path of the first value that cannot be stored."""
    try:
        value = _parse(text)
        check_json(value)
    except JsonRefused as exc:
        raise exc.api_error() from None
    except ValueError as exc:  # syntax, bad UTF-8, an integer of more than 4,300 digits
        raise ApiError(400, "bad_json", f"not JSON: {shown(str(exc))}", {ROOT: "not JSON"}) from None
    return value


class CheckedJSONProvider(DefaultJSONProvider):
    """Flask's JSON with checked input and output that always encodes.

    `loads` keeps raising ValueError for text that is not JSON (so `get_json(silent=True)` still answers None
    and the view explains what it wanted); a document that parses but holds something unstorable raises
    ApiError, which `silent` does not swallow. `dumps` escapes what UTF-8 cannot carry instead of failing after
    the view has already succeeded."""

    def loads(self, s: str | bytes, **kwargs):
        if len(s) > MAX_JSON_BYTES:  # no view takes more; parsing it would cost memory and time for nothing
            raise ApiError(413, "too_large", f"a JSON body may take at most {MAX_JSON_BYTES} bytes",
                           {ROOT: f"at most {MAX_JSON_BYTES} bytes"})
        try:
            value = _parse(s)
            check_json(value)
        except JsonRefused as exc:
            raise exc.api_error() from None
        return value

    def dumps(self, obj, **kwargs) -> str:
        out = super().dumps(obj, **kwargs)
        try:
            out.encode("utf-8")
        except UnicodeEncodeError:
            out = super().dumps(obj, **{**kwargs, "ensure_ascii": True})
        return out


def _raw_query_problem(raw: str) -> tuple[str, str] | None:
    """(parameter, reason) for the first query argument that is not NUL-free UTF-8. Werkzeug keeps undecodable
    escapes as literal text, so this looks at the bytes the client sent."""
    for pair in raw.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        try:
            parts = [unquote_to_bytes(p.replace("+", " ").encode("latin-1")) for p in (key, value)]
        except UnicodeError:  # not a WSGI byte string at all
            return shown(key), "is not valid UTF-8 (percent-encode UTF-8 bytes)"
        name = shown(parts[0].decode("utf-8", "replace"))
        for part in parts:
            try:
                decoded = part.decode("utf-8")
            except UnicodeError:
                return name, "is not valid UTF-8 (percent-encode UTF-8 bytes)"
            if "\x00" in decoded:
                return name, "contains a NUL character (\\u0000), which cannot be stored"
    return None


def _raw_path_problem(raw: str) -> str | None:
    try:
        decoded = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return "is not valid UTF-8 (percent-encode UTF-8 bytes)"
    return "contains a NUL character (\\u0000), which cannot be stored" if "\x00" in decoded else None


def check_request() -> None:
    """before_request: refuse a path segment, query argument or form field that is not storable text."""
    for name, value in (request.view_args or {}).items():
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            raise ApiError(400, "invalid_path", f"path segment {name}: {problem}", {name: problem})
    problem = _raw_path_problem(request.environ.get("PATH_INFO", ""))
    if problem:
        raise ApiError(400, "invalid_path", f"the path {problem}", {"path": problem})
    found = _raw_query_problem(request.environ.get("QUERY_STRING", ""))
    if found:
        raise ApiError(400, "invalid_query", f"query argument {found[0]} {found[1]}", {found[0]: found[1]})
    for name, value in request.args.items(multi=True):
        problem = text_problem(name) or text_problem(value)
        if problem:
            raise ApiError(400, "invalid_query", f"query argument {shown(name)}: {problem}", {shown(name): problem})
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            problem = text_problem(name) or text_problem(value)
            if problem:
                raise ApiError(400, "invalid_form", f"form field {shown(name)}: {problem}", {shown(name): problem})


def register(app: Flask) -> None:
    """Install the checked JSON provider (keeping the app's JSON settings) and the request check."""
    provider = CheckedJSONProvider(app)
    for attr in ("ensure_ascii", "sort_keys", "compact", "mimetype"):
        setattr(provider, attr, getattr(app.json, attr))
    app.json = provider
    app.before_request(check_request)

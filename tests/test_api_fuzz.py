"""No 5xx from any request: hand cases for every reproduction of issue 13, a database outage, and
property-based bodies, path segments and query arguments against the real app, database and broker.

Every answer must be below 500 and every error must have the contract's shape. The number of requests
made is printed at the end of the module (run with -s to see it; decision 0014 records a run).
"""
from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from application.routing import RoutingCache
from tests.helpers import free_port
from web.app import create_app
from web.auth import Tokens
from web.errors import ApiError
from web.hygiene import MAX_DEPTH, loads_checked

pytestmark = pytest.mark.integration

POINT = {"lon": 125.4388, "lat": 43.7126}
NANGUAN_UNIT = "220102-SANITATION"
COUNT = {"requests": 0, "property cases": 0}
STATUSES: Counter[int] = Counter()
_CHECKS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
BODY_FUZZ = hsettings(max_examples=150, deadline=None, database=None, suppress_health_check=_CHECKS)
GET_FUZZ = hsettings(max_examples=40, deadline=None, database=None, suppress_health_check=_CHECKS)  # per endpoint


@pytest.fixture(scope="module", autouse=True)
def _report_count():
    started = time.monotonic()
    yield
    print(f"\napi fuzz: {COUNT['requests']} requests, {COUNT['property cases']} property-based cases, "
          f"{time.monotonic() - started:.1f} s; statuses {dict(sorted(STATUSES.items()))}")


def sane(response, *, allow_503: bool = False):
    """The answer is below 500 (or a 503 where allowed) and an error has the contract's body."""
    COUNT["requests"] += 1
    status = response.status_code
    STATUSES[status] += 1
    text = response.get_data()[:300]
    assert status < 500 or (allow_503 and status == 503), (status, text)
    api = response.request.path.startswith("/api/")
    if response.mimetype == "application/json":
        body = json.loads(response.get_data())  # encodes and parses: no surrogate escaped into the output
        if status >= 400 and api:  # /readyz answers 503 with its own body of checks
            error = body.get("error") if isinstance(body, dict) else None
            assert isinstance(error, dict), (status, text)
            assert isinstance(error.get("code"), str) and error["code"], (status, text)
            assert isinstance(error.get("message"), str) and error["message"], (status, text)
            fields = error.get("fields")
            assert fields is None or (isinstance(fields, dict)
                                      and all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())), text
    elif api:
        assert status < 400, f"an API error must be JSON: {status} {text!r}"
    return response


@pytest.fixture
def app(deps):
    app, _ = create_app(deps, RoutingCache.from_settings(deps.engine, deps.settings), relay_events=False)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def callers(deps, make_user, grid_cell):
    """Headers of an anonymous resident, an operator, a department and a grid worker."""
    tokens = Tokens(deps.settings.secret_key)
    users = {
        "operator": make_user("fuzz-op", "operator", supervisor=True),
        "department": make_user("fuzz-dept", "department", unit=NANGUAN_UNIT),
        "grid": make_user("fuzz-grid", "grid", grid=grid_cell),
    }
    out = {"anonymous": {}}
    out.update({role: {"Authorization": f"Bearer {tokens.issue(u)}"} for role, u in users.items()})
    return out


def _error(response) -> dict:
    return json.loads(response.get_data())["error"]


def _post_raw(client, path: str, raw: bytes, headers=None):
    return client.post(path, data=raw, content_type="application/json", headers=headers or {})


# --- hand cases: each reproduction of the issue -------------------------------------------------------------
# One test per kind, its cases in a loop: each test's fixtures (topics, accounts) cost half a second.

UNSTORABLE_BODIES = [
    ({"location": POINT, "description": "a\u0000b"}, "description"),
    ({"location": POINT, "reporter": {"name": "x\u0000"}}, "reporter.name"),
    ({"location": POINT, "extra": {"a": [0, 1, 2, "\u0000"]}}, "extra.a[3]"),
    ({"location": POINT, "address": "\ud800"}, "address"),
    ({"location": POINT, "extra": {"n": 2**63}}, "extra.n"),
    ({"location": POINT, "extra": {"n": -(2**63) - 1}}, "extra.n"),
    ({"location": POINT, "extra": {"n\u0000": 1}}, "extra.n\\u0000"),
    ({"location": POINT, "extra": {"x": float("nan")}}, "extra.x"),
    ({"location": {"lon": float("inf"), "lat": 43.7}}, "location.lon"),
]


def test_unstorable_json_is_422_naming_its_path(client, callers):
    for body, path in UNSTORABLE_BODIES:
        for who in ("anonymous", "operator"):
            r = sane(_post_raw(client, "/api/v1/reports", json.dumps(body).encode(), callers[who]))
            assert r.status_code == 422, (path, r.get_data(as_text=True))
            error = _error(r)
            assert error["code"] == "invalid_body" and path in error["fields"], error


def test_lone_surrogate_in_raw_utf8_body_is_422(client):
    raw = '{"location": {"lon": 125.4388, "lat": 43.7126}, "description": "\ud800"}'.encode("utf-8", "surrogatepass")
    r = sane(_post_raw(client, "/api/v1/reports", raw))
    assert r.status_code == 422 and "description" in _error(r)["fields"]
    r = sane(_post_raw(client, "/api/v1/reports", b'{"description": "\xff"}'))  # not UTF-8 at all: not JSON
    assert r.status_code == 400 and _error(r)["code"] == "bad_json"


def test_deep_json_is_422(client, callers):
    for depth in (MAX_DEPTH + 1, 300, 30_000):  # 30,000: beyond the parser's recursion, within 64 KiB
        raw = b'{"location": {"lon": 125.4388, "lat": 43.7126}, "extra": ' + b"[" * depth + b"]" * depth + b"}"
        for path in ("/api/v1/reports", "/api/v1/auth/token", "/api/v1/tickets/X/actions"):
            r = sane(_post_raw(client, path, raw, callers["operator"]))
            assert r.status_code == 422 and "nested deeper" in _error(r)["message"], (depth, r.get_data()[:300])


def test_json_at_the_depth_limit_is_not_refused_by_hygiene(client):
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)  # inside the body: MAX_DEPTH levels in all
    r = sane(_post_raw(client, "/api/v1/auth/token", ('{"username": "nobody", "password": "wrong-pass", "x": '
                                                      + nested + "}").encode()))
    assert r.status_code == 401, r.get_data(as_text=True)
    r = sane(_post_raw(client, "/api/v1/auth/token", ('{"username": "nobody", "password": "wrong-pass", "x": ['
                                                      + nested + "]}").encode()))
    assert r.status_code == 422 and f"nested deeper than {MAX_DEPTH}" in _error(r)["message"]


def test_channel_of_the_wrong_type_is_4xx(client):
    for channel in ([], {}, 1, None, True):
        r = sane(client.post("/api/v1/reports", json={"channel": channel, "location": POINT}))
        assert 400 <= r.status_code < 500


def test_nul_in_login_is_4xx(client):
    r = sane(client.post("/api/v1/auth/token", json={"username": "admin\u0000", "password": "x"}))
    assert r.status_code == 422 and "username" in _error(r)["fields"]
    r = sane(client.post("/login", data={"username": "a\u0000", "password": "x"}))
    assert 400 <= r.status_code < 500


BAD_PATHS_AND_QUERIES = [
    ("/api/v1/tickets/%00", "ticket_no"),
    ("/api/v1/tickets/A%00B", "ticket_no"),
    ("/api/v1/reports/public/%00", "report_id"),
    ("/api/v1/reports/%00/x", "channel"),
    ("/api/v1/tickets?status=%00", "status"),
    ("/api/v1/tickets?unit=a%00", "unit"),
    ("/api/v1/tickets?district=%00", "district"),
    ("/api/v1/tickets?since=%00", "since"),
    ("/api/v1/route?lon=125&lat=43&category=%00", "category"),
    ("/api/v1/areas?level=%00", "level"),
    ("/api/v1/tickets?status=%ED%A0%80", "status"),  # a surrogate in CESU-8: not UTF-8
    ("/api/v1/tickets?status=%FF", "status"),
    ("/api/v1/tickets?%FF=1", "\ufffd"),
]


def test_nul_or_bad_utf8_in_path_or_query_is_400_naming_it(client, callers):
    for url, name in BAD_PATHS_AND_QUERIES:
        for who in ("anonymous", "operator", "department"):
            r = sane(client.get(url, headers=callers[who]))
            assert r.status_code == 400, (url, who, r.status_code, r.get_data(as_text=True))
            error = _error(r)
            assert error["code"] in ("invalid_query", "invalid_path") and name in error["fields"], (url, error)


def test_nul_in_action_path_and_body(client, callers):
    r = sane(client.post("/api/v1/tickets/%00/actions", json={"action": "acknowledge", "version": 1},
                         headers=callers["department"]))
    assert r.status_code == 400 and "ticket_no" in _error(r)["fields"]
    for field in ("note", "to_unit", "category", "action"):
        body = {"action": "acknowledge", "version": 1, field: "x\u0000"}
        r = sane(client.post("/api/v1/tickets/X/actions", json=body, headers=callers["operator"]))
        assert r.status_code == 422 and field in _error(r)["fields"], r.get_data(as_text=True)


def test_numbers_in_queries_must_be_finite(client, callers):
    for url, field in [
        ("/api/v1/areas?simplify_m=abc", "simplify_m"), ("/api/v1/areas?simplify_m=nan", "simplify_m"),
        ("/api/v1/areas?simplify_m=inf", "simplify_m"), ("/api/v1/areas?simplify_m=-Infinity", "simplify_m"),
        ("/api/v1/route?lon=nan&lat=43.7", "lon"), ("/api/v1/route?lon=125.4&lat=inf", "lat"),
        ("/api/v1/route?lon=125.4&lat=-inf", "lat"), ("/api/v1/route?lon=1e999&lat=43.7", "lon"),
        ("/api/v1/route?lat=43.7", "lon"), ("/api/v1/route?lon=x&lat=43.7", "lon"),
    ]:
        r = sane(client.get(url, headers=callers["operator"]))
        assert r.status_code == 400 and field in _error(r)["fields"], (url, r.get_data(as_text=True))
    r = sane(client.get("/api/v1/areas?level=district&simplify_m=50", headers=callers["operator"]))
    assert r.status_code == 200 and len(r.get_json()["features"]) == 11
    r = sane(client.get("/api/v1/route?lon=125.4388&lat=43.7126", headers=callers["operator"]))
    assert r.status_code == 200, r.get_data(as_text=True)


def test_instants_with_any_offset_python_reads_are_not_5xx(client, callers):
    for since in ("2026-01-01T00:00:00+23:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        for url in ("/api/v1/tickets", "/api/v1/evaluation"):
            r = sane(client.get(url, query_string={"since": since}, headers=callers["operator"]))
            assert r.status_code in (200, 400), (url, since, r.get_data(as_text=True))
    r = sane(client.get("/api/v1/tickets", query_string={"since": "2020-01-01T00:00:00+23:00"},
                        headers=callers["operator"]))
    assert r.status_code == 200 and r.get_json()["items"] == []  # PostgreSQL refuses +23:00; UTC it reads


def test_loads_checked_for_json_in_a_form_field():
    assert loads_checked('{"a": [1, "b"]}') == {"a": [1, "b"]}
    for text, status, path in (('{"a": "\\u0000"}', 422, "a"), ('{"a": [1, "\\ud800"]}', 422, "a[1]"),
                               ("[1e999]", 422, "[0]"), ('{"a": 99999999999999999999}', 422, "a"),
                               ("{", 400, "(body)"), ("[" * 5000 + "]" * 5000, 422, "(body)")):
        with pytest.raises(ApiError) as caught:
            loads_checked(text)
        assert caught.value.status == status and path in caught.value.fields, (text[:20], caught.value.fields)


def _raw_get(base: str, target: bytes, token: str) -> tuple[int, bytes]:
    """GET with the request line's bytes exactly as given (http.client insists on ASCII)."""
    import socket

    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_raw_bytes_through_a_real_http_server(server, make_user, deps):
    """The Werkzeug server decodes the request line itself; the same refusals hold over a socket."""
    base, _ = server
    token = Tokens(deps.settings.secret_key).issue(make_user("fuzz-raw", "operator"))
    refused = (b"/api/v1/tickets/%00", b"/api/v1/reports/public/%00", b"/api/v1/tickets?status=%00",
               b"/api/v1/tickets?st%00atus=1", b"/api/v1/tickets?status=%ED%A0%80", b"/api/v1/tickets?status=%FF",
               b"/api/v1/areas?simplify_m=nan", b"/api/v1/route?lon=nan&lat=1")
    # Raw bytes above 0x7f: this server reads the request line as Latin-1, so they arrive as valid text.
    harmless = (b"/api/v1/tickets/%ED%A0%80", b"/api/v1/tickets/\xff\xfe", b"/api/v1/tickets?status=\xff\xfe")
    for target in refused + harmless:
        status, body = _raw_get(base, target, token)
        COUNT["requests"] += 1
        assert status < 500 and (status == 400 or target in harmless), (target, status, body[:200])
        if status >= 400:
            assert isinstance(json.loads(body)["error"]["code"], str), (target, body[:200])


# --- database outage ----------------------------------------------------------------------------------------

@pytest.fixture
def down_client(settings, make_user, deps):
    """An app whose database URL points at a port where nothing listens (the broker is up)."""
    from sqlalchemy.engine import make_url

    from yunguan.wiring import build

    token = Tokens(settings.secret_key).issue(make_user("fuzz-down", "operator"))
    url = make_url(settings.database_url).set(port=free_port()).render_as_string(hide_password=False)
    down = build(settings.replace(database_url=url))
    app, _ = create_app(down, RoutingCache.from_settings(down.engine, down.settings), relay_events=False)
    yield app.test_client(), {"Authorization": f"Bearer {token}"}
    down.close()


def test_database_outage_is_503_with_retry_after(down_client):
    client, auth = down_client
    cases = [
        client.get("/api/v1/categories"),
        client.post("/api/v1/auth/token", json={"username": "fuzz-down", "password": "secret-pass-1"}),
        client.post("/api/v1/reports", json={"report_id": uuid.uuid4().hex, "location": POINT}),
        client.get("/api/v1/tickets", headers=auth),
        client.get("/api/v1/tickets/X", headers=auth),
        client.get("/api/v1/reports/public/x"),
    ]
    for r in cases:
        sane(r, allow_503=True)
        assert r.status_code == 503, (r.request.path, r.status_code, r.get_data(as_text=True)[:300])
        assert _error(r)["code"] == "database_unavailable"
        assert int(r.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "database" in ready.get_data(as_text=True)


def test_database_back_after_terminated_connections(client, callers, engine, deps):
    """Connections killed under the app (a restart, a failover) cost no 5xx: the pool re-checks them."""
    from sqlalchemy import text

    assert sane(client.get("/api/v1/tickets", headers=callers["operator"])).status_code == 200
    with engine.connect() as conn:
        killed = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    assert killed >= 1
    for _ in range(3):
        assert sane(client.get("/api/v1/tickets", headers=callers["operator"])).status_code == 200


def test_connection_lost_mid_request_is_503_and_a_refused_value_is_a_logged_400(deps, caplog):
    """Two views added for this test only: one whose connection dies under it (its backend terminated, as
    in a database restart), one that sends PostgreSQL a value it refuses (what validation should stop)."""
    from flask import jsonify
    from sqlalchemy import text

    app, _ = create_app(deps, RoutingCache.from_settings(deps.engine, deps.settings), relay_events=False)

    def dies():
        with deps.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            return jsonify(conn.execute(text("SELECT 1")).scalar())

    def refused():
        with deps.engine.connect() as conn:
            return jsonify(conn.execute(text("SELECT CAST(:v AS integer)"), {"v": "abc"}).scalar())

    app.add_url_rule("/api/v1/test-dies", view_func=dies)
    app.add_url_rule("/api/v1/test-refused", view_func=refused)
    client = app.test_client()
    r = sane(client.get("/api/v1/test-dies"), allow_503=True)
    assert r.status_code == 503 and _error(r)["code"] == "database_unavailable" and r.headers["Retry-After"]
    assert sane(client.get("/api/v1/categories")).status_code == 200  # the pool recovered by itself
    with caplog.at_level("ERROR", logger="web.errors"):
        r = sane(client.get("/api/v1/test-refused"))
    assert r.status_code == 400 and _error(r)["code"] == "invalid_value"
    assert any("BUG" in rec.getMessage() and "test-refused" in rec.getMessage() for rec in caplog.records)


# --- property-based -----------------------------------------------------------------------------------------

NASTY = st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\ufffd", "nan", "inf", "-inf", "1e999",
                         "-1", "0", "9" * 40, "2026-01-01T00:00:00+23:00", "0001-01-01T00:00:00+14:00", "../../etc",
                         "%00", "'; DROP TABLE tickets; --", "020102", "public", "true", "null", "[]", "{}",
                         "南关区", "x" * 3000])
TEXT = st.one_of(NASTY, st.text(max_size=40),
                 st.text(st.characters(codec=None, categories=("Cs", "Cc", "Lo", "Nd")), max_size=12),
                 st.tuples(st.text(max_size=5), NASTY).map("".join))
NUMBER = st.one_of(st.integers(), st.integers(min_value=2**62, max_value=2**80).flatmap(
    lambda n: st.sampled_from([n, -n])), st.floats(), st.sampled_from([2**63 - 1, 2**63, -(2**63)]))
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)
DEEP = st.integers(min_value=20, max_value=400).map(lambda d: "[" * d + "]" * d)


def _encode(value, ascii_only: bool) -> bytes:
    """As a client would send it: escaped (\\ud800) or as raw UTF-8 with surrogates passed through."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _field(value):
    return st.one_of(st.just(value), JSON)


REPORT = st.fixed_dictionaries({}, optional={
    "report_id": _field("fuzz"), "channel": _field("public"), "reported_at": _field("2026-01-01T08:00:00+08:00"),
    "category": _field("020102"), "description": TEXT, "location": _field(POINT), "address": TEXT,
    "reporter": st.one_of(st.fixed_dictionaries({}, optional={"id": TEXT, "name": TEXT, "phone": TEXT}), JSON),
    "attachments": JSON, "extra": JSON, "schema": _field("report/1"),
})
ACTION = st.fixed_dictionaries({"action": _field("acknowledge"), "version": _field(1)}, optional={
    "note": TEXT, "to_unit": _field(NANGUAN_UNIT), "category": _field("020102"), "minutes": NUMBER,
    "park": SCALAR, "level": NUMBER, "report": TEXT, "attachments": JSON, "unknown": JSON,
})
LOGIN = st.fixed_dictionaries({}, optional={"username": _field("fuzz-op"), "password": TEXT, "otp": TEXT})
CALLER = st.sampled_from(["anonymous", "operator", "department", "grid"])


def _body(shape):
    return st.one_of(shape, JSON, st.tuples(shape, JSON).map(lambda p: p[0] if isinstance(p[0], dict) else p[1]))


@pytest.mark.parametrize("path, shape", [
    ("/api/v1/reports", REPORT), ("/api/v1/auth/token", LOGIN), ("/api/v1/tickets/{no}/actions", ACTION),
], ids=["reports", "auth-token", "ticket-actions"])
def test_fuzz_json_bodies(client, callers, ticket_no, path, shape):

    @BODY_FUZZ
    @given(body=_body(shape), ascii_only=st.booleans(), who=CALLER, deep=st.one_of(st.none(), DEEP))
    def run(body, ascii_only, who, deep):
        COUNT["property cases"] += 1
        raw = _encode(body, ascii_only)
        if deep is not None and isinstance(body, dict):
            raw = raw[:-1] + (b", " if body else b"") + b'"deep": ' + deep.encode() + b"}"
        sane(_post_raw(client, path.format(no=ticket_no), raw, callers[who]))

    run()


@pytest.fixture
def ticket_no(deps) -> str:
    """A real dispatched ticket, written the way the worker writes one, so action bodies reach the closed
    loop and not only the 404 of an unknown number."""
    from datetime import UTC, datetime

    from application.envelope import validate_envelope
    from application.ingest import Received, ingest

    envelope = validate_envelope({"schema": "report/1", "report_id": "fuzz-1", "channel": "grid",
                                  "category": "020102", "reported_at": "2026-11-25T09:00:00+08:00",
                                  "description": "垃圾满溢", "location": {**POINT, "crs": "wgs84"}})
    ctx = RoutingCache.from_settings(deps.engine, deps.settings)()
    with deps.engine.begin() as conn:
        [no] = ingest(conn, [Received(envelope, "reports.grid", 0, 0)], ctx, now=datetime.now(UTC),
                      timezone=deps.settings.timezone, ticket_prefix=deps.settings.ticket_prefix,
                      events_topic=deps.topics.ticket_events, loop=deps.loop()(conn))
    return no


QUERY_NAMES = st.one_of(st.sampled_from([
    "status", "unit", "district", "since", "until", "limit", "cursor", "deadline_state", "border_check", "lon",
    "lat", "crs", "category", "level", "simplify_m", "from", "to", "by", "key", "count", "q", "kind", "page",
]), TEXT)


OFFSET = st.tuples(st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]}{t[1]:02d}:{t[2]:02d}")
QUERY_VALUES = st.one_of(TEXT, st.floats().map(str), st.integers().map(str),
                         st.tuples(st.datetimes(), OFFSET).map(lambda t: t[0].isoformat() + t[1]))


def _url_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def get_rules(app):
    """Every GET endpoint of the JSON API and the health blueprint, as (rule, argument names)."""
    return sorted(
        (rule.rule, tuple(rule.arguments)) for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint.split(".")[0] in ("api", "health")
    )


def test_fuzz_every_get_endpoint(app, client, callers, ticket_no):
    rules = get_rules(app)
    assert any(r[0] == "/api/v1/tickets/<ticket_no>" for r in rules) and len(rules) >= 9, rules

    def fuzz(rule: str, arguments: tuple[str, ...]) -> None:
        @GET_FUZZ
        @given(data=st.data(), who=CALLER, query=st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=4))
        def run(data, who, query):
            COUNT["property cases"] += 1
            path = rule
            for name in arguments:
                real = st.just(ticket_no) if name == "ticket_no" else st.just("public") if name == "channel" else TEXT
                segment = data.draw(st.one_of(real, TEXT).filter(lambda s: s.strip("./") and "/" not in s), label=name)
                path = re.sub(rf"<(?:[a-z]+:)?{name}>", quote(_url_bytes(segment), safe=""), path)
            query_string = urlencode([(_url_bytes(k), _url_bytes(v)) for k, v in query])
            r = client.get(path, query_string=query_string, headers=callers[who])
            sane(r, allow_503=rule == "/readyz")  # /readyz reports a stalled intake (no worker runs here)

        run()

    for rule, arguments in rules:
        fuzz(rule, arguments)


def test_multipart_report_field_is_checked_like_a_json_body(client):
    for text in ("[" * 30_000 + "]" * 30_000, '{"location": {"lon": 125.4388, "lat": 43.7126}, "extra": '
                 + "[" * 40 + "]" * 40 + ', "x": "\\u0000"}'):
        r = sane(client.post("/api/v1/reports", data={"report": text}, content_type="multipart/form-data"))
        assert r.status_code in (400, 422) and _error(r)["fields"], r.get_data(as_text=True)[:300]

"""Web security on the real server, database and broker (issue 13, decision 0011): CSRF on the cookie-
authenticated API, the console socket's Origin, login throttling and its record, uniform timing, the TOTP
second factor, /metrics for scrapers only, /track's limit and redacted view, and split's scope check."""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pyotp
import pytest
import requests
import socketio
from sqlalchemy import text

from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.integration

PASSWORD = "secret-pass-1"
METRICS_TOKEN = "scrape-" + uuid.uuid4().hex
EXTRA_ORIGIN = "https://ops.example.cn"
NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}


@pytest.fixture
def settings(settings):
    """The conftest settings with this module's security options: hotline staff must use a second factor,
    one extra socket origin, a scrape token."""
    return settings.replace(require_2fa_roles="hotline", allowed_origins=EXTRA_ORIGIN, metrics_token=METRICS_TOKEN)


def _token(base: str, username: str, **extra) -> requests.Response:
    return requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD, **extra},
                         timeout=10)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _page_session(base: str, username: str) -> requests.Session:
    """A browser-like session logged in through the /login form (the page session cookie)."""
    s = requests.Session()
    form = s.get(f"{base}/login", timeout=10)
    r = s.post(f"{base}/login", data={"csrf_token": _csrf(form.text), "username": username, "password": PASSWORD},
               allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    return s


def _foreign(base: str) -> str:
    """Another port of the same host: same-site for the browser, so SameSite=Lax cookies go along."""
    return f"http://127.0.0.1:{free_port()}"


def _report(channel: str = "hotline") -> dict:
    return {"report_id": f"sec-{uuid.uuid4().hex[:12]}", "channel": channel, "category": "020102",
            "description": "路边垃圾堆放", "location": NANGUAN}


def _accepted(engine, report_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM intake_log WHERE report_id = :r"), {"r": report_id}).first() is not None


def _new_ticket(base: str) -> str:
    report = _report("public")
    r = requests.post(f"{base}/api/v1/reports", json=report, timeout=10)
    assert r.status_code == 202, r.text
    return wait_for(lambda: requests.get(f"{base}/api/v1/reports/public/{report['report_id']}", timeout=5).json()
                    .get("ticket_no"), what="the ticket")


def test_cookie_authenticated_api_writes_need_the_csrf_token_or_our_origin(server, worker, make_user, engine):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    no = _new_ticket(base)
    browser = _page_session(base, "duty")
    evil = {"Origin": _foreign(base)}

    # A report and a ticket action from another origin, riding on the cookie: refused, nothing created.
    report = _report()
    r = browser.post(f"{base}/api/v1/reports", json=report, headers=evil, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed", r.text
    assert not _accepted(engine, report["report_id"])
    version = browser.get(f"{base}/api/v1/tickets/{no}", timeout=10).json()["version"]
    action = {"action": "comment", "version": version, "note": "催办"}
    r = browser.post(f"{base}/api/v1/tickets/{no}/actions", json=action, headers=evil, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed", r.text
    assert browser.get(f"{base}/api/v1/tickets/{no}", timeout=10).json()["version"] == version
    # No Origin and no token at all is refused too; a Referer from elsewhere as well.
    assert browser.post(f"{base}/api/v1/reports", json=_report(), timeout=10).status_code == 403
    assert browser.post(f"{base}/api/v1/reports", json=_report(), timeout=10,
                        headers={"Referer": evil["Origin"] + "/attack.html"}).status_code == 403

    # The same from our own origin, or with the page's CSRF token, goes through.
    r = browser.post(f"{base}/api/v1/reports", json=report, headers={"Origin": base}, timeout=10)
    assert r.status_code == 202, r.text
    assert _accepted(engine, report["report_id"])
    # That report is about the same spot: it merges into the ticket (a new version) once the worker has it.
    wait_for(lambda: browser.get(f"{base}/api/v1/reports/hotline/{report['report_id']}", timeout=5).json()
             .get("ticket_no") == no, what="the accepted report to merge into the ticket")
    version = browser.get(f"{base}/api/v1/tickets/{no}", timeout=10).json()["version"]
    action = {**action, "version": version}
    token = _csrf(browser.get(f"{base}/console", timeout=10).text)
    r = browser.post(f"{base}/api/v1/tickets/{no}/actions", json=action, headers={"X-CSRFToken": token}, timeout=10)
    assert r.status_code == 200 and r.json()["version"] == version + 1, r.text
    r = browser.post(f"{base}/api/v1/reports", json=_report(), timeout=10,
                     headers={"X-CSRFToken": "forged", "Referer": f"{base}/console"})
    assert r.status_code == 202, r.text  # a bad token does not hide a good Referer

    # Bearer calls and anonymous calls without cookies are not affected by Origin.
    bearer = {"Authorization": f"Bearer {_token(base, 'duty').json()['token']}", **evil}
    assert requests.post(f"{base}/api/v1/reports", json=_report(), headers=bearer, timeout=10).status_code == 202
    assert requests.post(f"{base}/api/v1/reports", json=_report("public"), headers=evil, timeout=10).status_code == 202

    # Logging out: not from another origin (API), not without the form's token (page); then from our origin.
    r = browser.post(f"{base}/api/v1/auth/logout", headers=evil, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert browser.post(f"{base}/logout", headers=evil, allow_redirects=False, timeout=10).status_code == 400
    assert browser.get(f"{base}/api/v1/tickets", timeout=10).status_code == 200, "still logged in"
    assert browser.post(f"{base}/api/v1/auth/logout", headers={"Origin": base}, timeout=10).status_code == 200
    assert browser.get(f"{base}/api/v1/tickets", timeout=10).status_code == 401


def _connect(base: str, token: str, origin: str | None) -> socketio.Client:
    """Long-polling, whose requests carry exactly the headers given (the WebSocket client adds an Origin of
    its own; a browser's WebSocket carries its page's, which is what the check reads either way)."""
    client = socketio.Client(reconnection=False)
    client.connect(base, namespaces=["/console"], auth={"token": token}, transports=["polling"],
                   headers={"Origin": origin} if origin else {}, wait_timeout=10)
    return client


def test_console_socket_refuses_foreign_origins_even_with_a_valid_token(server, make_user):
    base, _ = server
    make_user("duty", "operator")
    token = _token(base, "duty").json()["token"]
    for origin in (_foreign(base), "null", "http://evil.example"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            _connect(base, token, origin)
    for origin in (base, EXTRA_ORIGIN, None):  # our own page, the configured extra origin, a program
        client = _connect(base, token, origin)
        assert client.connected
        client.disconnect()


def _attempts(engine, **where) -> list:
    clause = " AND ".join(f"{k} = :{k}" for k in where)
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT username, user_id, address, via, outcome FROM login_attempts WHERE {clause} "
                                 "ORDER BY id"), where).all()


def test_sixty_wrong_passwords_lock_the_account_and_then_the_address(server, make_user, engine, deps):
    base, _ = server
    duty = make_user("duty", "operator")
    make_user("clerk", "operator")
    answers = [requests.post(f"{base}/api/v1/auth/token", json={"username": "duty", "password": f"guess-{i}"},
                             timeout=10) for i in range(60)]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert {a.status_code for a in answers[5:]} == {429}
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 900
    r = _token(base, "duty")
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts", r.text
    form = requests.Session()  # the page's form is the same door
    page = form.post(f"{base}/login", data={"csrf_token": _csrf(form.get(f"{base}/login", timeout=10).text),
                                            "username": "duty", "password": PASSWORD}, allow_redirects=False, timeout=10)
    assert page.status_code == 429 and "Retry-After" in page.headers

    record = _attempts(engine, username="duty")
    assert [a.outcome for a in record] == ["bad_password"] * 5 + ["throttled"] * 57
    assert {(a.user_id, a.address) for a in record} == {(duty.id, "127.0.0.1")}
    assert {a.via for a in record} == {"api", "page"}

    # Another account from the same address still logs in, until the address has 20 failures.
    assert _token(base, "clerk").status_code == 200
    for i in range(15):
        assert _token(base, f"nobody-{i}").status_code == 401
    assert _token(base, "clerk").status_code == 429
    assert _attempts(engine, username="nobody-0")[0].outcome == "unknown_user"

    # When the window has passed (the app's clock moved on), the right password works again.
    real = deps.clock
    deps.clock = lambda: real() + timedelta(seconds=deps.settings.login_window_s + 1)
    try:
        assert _token(base, "duty").status_code == 200
    finally:
        deps.clock = real


def test_unknown_and_known_usernames_take_the_same_time(server, make_user):
    base, _ = server
    make_user("duty", "operator")

    def timed(username: str) -> float:
        start = time.perf_counter()
        r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "wrong-password"},
                          timeout=10)
        assert r.status_code == 401, r.text
        return time.perf_counter() - start

    unknown, known = [], []
    for i in range(5):  # interleaved, so machine load hits both alike; 5 stays under the account's limit
        unknown.append(timed(f"ghost-{i}"))
        known.append(timed("duty"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 1 / 3 < ratio < 3, (unknown, known)


def _cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yunguan.cli", *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, YUNGUAN_DATABASE_URL=settings.database_url,
                                   YUNGUAN_SECRET_KEY=settings.secret_key, YUNGUAN_STATE_DIR=settings.state_dir))


def _enrol(settings, username: str) -> pyotp.TOTP:
    done = _cli(settings, "users", "totp", username)
    assert done.returncode == 0, done.stderr
    uri = next(line for line in done.stdout.splitlines() if line.startswith("otpauth://totp/"))
    totp = pyotp.parse_uri(uri)
    assert f"secret: {totp.secret}" in done.stdout
    return totp


def _wrong(totp: pyotp.TOTP) -> str:
    now = time.time()
    near = {totp.at(now + d) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c not in near)


def test_totp_second_factor_on_the_api_and_the_page(server, make_user, settings):
    base, _ = server
    make_user("boss", "admin")
    make_user("boss2", "admin")
    make_user("caller", "hotline")  # hotline must use a second factor here (require_2fa_roles)
    assert _token(base, "boss").status_code == 200  # not enrolled, role not required: password alone
    totp = _enrol(settings, "boss")

    r = _token(base, "boss")
    assert r.status_code == 401 and r.json()["error"]["code"] == "otp_required" and "otp" in r.json()["error"]["fields"]
    r = _token(base, "boss", otp=_wrong(totp))
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_otp", r.text
    code = totp.now()
    assert _token(base, "boss", otp=code).status_code == 200
    r = _token(base, "boss", otp=code)  # the same code again, within its window
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_otp", r.text
    r = _token(base, "boss", otp="12345\u0000")  # refused by the JSON hygiene before the view: 422 naming it
    assert r.status_code == 422 and "otp" in r.json()["error"]["fields"], r.text

    r = _token(base, "caller")  # required by role, not enrolled: refused, with what to do
    assert r.status_code == 403 and r.json()["error"]["code"] == "otp_not_enrolled", r.text
    caller = _enrol(settings, "caller")
    assert _token(base, "caller", otp=caller.now()).status_code == 200

    # The page: password first, then a code form; the code logs in once.
    page_totp = _enrol(settings, "boss2")
    s = requests.Session()
    r = s.post(f"{base}/login?next=/console", data={"csrf_token": _csrf(s.get(f"{base}/login", timeout=10).text),
                                                    "username": "boss2", "password": PASSWORD}, timeout=10)
    assert r.status_code == 200 and 'name="otp"' in r.text and 'name="password"' not in r.text
    assert s.get(f"{base}/api/v1/tickets", timeout=10).status_code == 401, "not logged in before the code"
    r = s.post(f"{base}/login?next=/console", data={"csrf_token": _csrf(r.text), "otp": _wrong(page_totp)},
               allow_redirects=False, timeout=10)
    assert r.status_code == 401 and 'name="otp"' in r.text
    code = page_totp.now()
    r = s.post(f"{base}/login?next=/console", data={"csrf_token": _csrf(r.text), "otp": code},
               allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].endswith("/console"), r.text
    assert s.get(f"{base}/api/v1/tickets", timeout=10).status_code == 200
    assert _token(base, "boss2", otp=code).status_code == 401, "the page's code cannot be used again"


def test_metrics_only_for_admins_and_the_scrape_token(server, make_user):
    base, _ = server
    make_user("boss", "admin")
    make_user("duty", "operator")
    url = f"{base}/metrics"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer " + METRICS_TOKEN[:-1]}, timeout=10).status_code == 401
    duty = _token(base, "duty").json()["token"]
    assert requests.get(url, headers={"Authorization": f"Bearer {duty}"}, timeout=10).status_code == 403
    for token in (METRICS_TOKEN, _token(base, "boss").json()["token"]):
        r = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200 and "yunguan_reports_accepted" in r.text, r.text[:200]


def test_track_lookups_are_limited_per_address_and_redacted(server, worker, make_user):
    base, _ = server
    make_user("duty", "operator")
    report = {**_report("public"), "description": "楼下垃圾堆了三天", "reporter": {"name": "王小明", "phone": "13812345678"}}
    assert requests.post(f"{base}/api/v1/reports", json=report, timeout=10).status_code == 202
    no = wait_for(lambda: requests.get(f"{base}/api/v1/reports/public/{report['report_id']}", timeout=5).json()
                  .get("ticket_no"), what="the ticket")
    duty = {"Authorization": f"Bearer {_token(base, 'duty').json()['token']}"}
    assert requests.post(f"{base}/api/v1/tickets/{no}/actions", headers=duty, timeout=10, json={
        "action": "comment", "version": 1, "note": "内部备注：联系了王先生"}).status_code == 200

    view = requests.get(f"{base}/api/v1/tickets/{no}", timeout=10)
    assert view.status_code == 200
    ticket = view.json()
    assert set(ticket) == {"ticket_no", "status", "category", "created_at", "updated_at", "history"}
    assert all(set(h) == {"at", "action", "to"} for h in ticket["history"])
    for secret in ("王小明", "13812345678", "5678", "内部备注", "duty", "楼下垃圾", "location", "lon"):
        assert secret not in view.text

    prefix = no.rsplit("-", 1)[0]
    statuses = [requests.get(f"{base}/api/v1/tickets/{prefix}-{n:05d}", timeout=10).status_code
                for n in range(1, 301)]
    first = statuses.index(429)
    assert first <= 30, statuses[:first + 1]  # 30 a minute, one used by the redacted view above
    assert set(statuses[first:]) == {429}
    assert requests.get(f"{base}/track", timeout=10).status_code == 429, "the page shares the budget"
    assert requests.get(f"{base}/api/v1/reports/public/{report['report_id']}", timeout=10).status_code == 200, \
        "the receipt (unguessable) still answers"
    assert requests.get(f"{base}/api/v1/tickets/{no}", headers=duty, timeout=10).status_code == 200, "staff unaffected"


def test_split_checks_scope_before_looking_at_reports(server, worker, make_user):
    base, _ = server
    make_user("duty", "operator")
    make_user("chaoyang", "department", unit="220104-SANITATION")  # another district's 环卫
    no = _new_ticket(base)

    def split(user: str, ticket_no: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {_token(base, user).json()['token']}"}
        return requests.post(f"{base}/api/v1/tickets/{ticket_no}/actions", headers=headers, timeout=10,
                             json={"action": "split", "version": 1, "note": "误合并", "report": "public/some-other-report"})

    r = split("chaoyang", no)
    assert r.status_code == 403 and r.json()["error"]["code"] == "out_of_scope", r.text
    assert "merged" not in r.text
    r = split("duty", no.rsplit("-", 1)[0] + "-99999")
    assert r.status_code == 404, r.text
    r = split("duty", no)  # in scope: now the report itself is checked
    assert r.status_code == 422 and "not merged" in r.json()["error"]["message"], r.text

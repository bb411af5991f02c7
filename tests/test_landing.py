"""Each role lands on its own page after the login form, `next` is followed only to a page the role may open,
and another role's page sends a logged-in account to its own (issue 15); over HTTP against the real server."""
from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from dispatch.vocabulary import CITY_WIDE_ROLES, HOME_PAGE
from web.pages import landing

pytestmark = pytest.mark.integration

PASSWORD = "secret-pass-1"
ROLE_OF = {"admin1": "admin", "duty": "operator", "hotline1": "hotline", "env": "department", "gw": "grid"}
HOME_OF = {"admin1": "/console", "duty": "/console", "hotline1": "/console", "env": "/unit", "gw": "/grid"}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _log_in(base: str, username: str, next_: str | None = None) -> tuple[requests.Session, requests.Response]:
    """The login form as a browser sends it; the answer is not followed."""
    s = requests.Session()
    query = {"next": next_} if next_ is not None else {}
    form = s.get(f"{base}/login", params=query, timeout=10)
    r = s.post(f"{base}/login", params=query, timeout=10, allow_redirects=False,
               data={"csrf_token": _csrf(form.text), "username": username, "password": PASSWORD})
    return s, r


def _where(r: requests.Response) -> str:
    """The redirect's target on this site (path and query); fails for any other answer or site."""
    assert r.status_code == 302, (r.status_code, r.text[:300])
    target = urlsplit(urljoin(r.url, r.headers["Location"]))
    assert target.netloc == urlsplit(r.url).netloc, r.headers["Location"]
    return target.path + (f"?{target.query}" if target.query else "")


@pytest.fixture
def accounts(server, make_user, grid_cell):
    make_user("admin1", "admin")
    make_user("duty", "operator", supervisor=True)
    make_user("hotline1", "hotline")
    make_user("env", "department", unit="220102-SANITATION")
    make_user("gw", "grid", grid=grid_cell)
    return server[0]


def test_the_mapping_is_one_page_per_account_role_and_the_console_is_the_city_wide_roles():
    assert set(HOME_PAGE) == set(ROLE_OF.values())
    assert {r for r, page in HOME_PAGE.items() if page == "/console"} == set(CITY_WIDE_ROLES)


@pytest.mark.parametrize("username", list(ROLE_OF))
def test_each_role_lands_on_its_own_page_and_can_open_it(accounts, username):
    s, r = _log_in(accounts, username)
    assert _where(r) == HOME_OF[username]
    page = s.get(f"{accounts}{HOME_OF[username]}", timeout=10, allow_redirects=False)
    assert page.status_code == 200, page.text[:300]
    assert _where(s.get(f"{accounts}/", timeout=10, allow_redirects=False)) == HOME_OF[username]


@pytest.mark.parametrize("username", list(ROLE_OF))
def test_another_roles_page_sends_the_account_to_its_own(accounts, username):
    s, _ = _log_in(accounts, username)
    for page in ("/console", "/unit", "/grid"):
        r = s.get(f"{accounts}{page}", timeout=10, allow_redirects=False)
        if page == HOME_OF[username]:
            assert r.status_code == 200
        else:
            assert _where(r) == HOME_OF[username], (username, page)


@pytest.mark.parametrize("username, next_, lands", [
    ("duty", "/track?q=CC20261201", "/track?q=CC20261201"),  # everyone's page: followed
    ("gw", "/report", "/report"),
    ("env", "/unit", "/unit"),
    ("env", "/console", "/unit"),  # another role's page: the own page instead
    ("gw", "/unit", "/grid"),
    ("hotline1", "/grid", "/console"),
    ("duty", "//evil.example/x", "/console"),  # never off this site
    ("duty", "/\\evil.example/x", "/console"),
    ("duty", "https://evil.example/", "/console"),
    ("duty", "/console\r\nSet-Cookie: x=1", "/console"),
    ("env", "", "/unit"),
])
def test_next_is_followed_only_to_a_page_the_role_may_open(accounts, username, next_, lands):
    _, r = _log_in(accounts, username, next_)
    assert _where(r) == lands


def test_landing_rule_on_its_own():
    assert landing("department", "/grid?x=1") == "/unit"
    assert landing("grid", "/grid?tab=tasks") == "/grid?tab=tasks"
    assert landing("operator", "/\t/evil.example") == "/console"
    assert landing("admin", "javascript:alert(1)") == "/console"


def test_the_login_form_still_needs_its_csrf_token_and_a_logout_ends_the_session(accounts):
    s = requests.Session()
    s.get(f"{accounts}/login", timeout=10)
    r = s.post(f"{accounts}/login", data={"username": "env", "password": PASSWORD}, timeout=10,
               allow_redirects=False)
    assert r.status_code == 400, "refused without the form's token"
    assert _where(s.get(f"{accounts}/unit", timeout=10, allow_redirects=False)).startswith("/login")

    s, r = _log_in(accounts, "env")
    assert _where(r) == "/unit"
    page = s.get(f"{accounts}/unit", timeout=10)
    out = s.post(f"{accounts}/logout", data={"csrf_token": _csrf(page.text)}, timeout=10, allow_redirects=False)
    assert _where(out).startswith("/login")
    assert _where(s.get(f"{accounts}/unit", timeout=10, allow_redirects=False)).startswith("/login?next=")
    assert _where(s.get(f"{accounts}/", timeout=10, allow_redirects=False)).startswith("/login")


def test_wrong_password_stays_on_the_form(accounts):
    s = requests.Session()
    form = s.get(f"{accounts}/login", params={"next": "/unit"}, timeout=10)
    r = s.post(f"{accounts}/login", params={"next": "/unit"}, timeout=10, allow_redirects=False,
               data={"csrf_token": _csrf(form.text), "username": "env", "password": "wrong-password"})
    assert r.status_code == 401 and "Location" not in r.headers


def test_the_vocabulary_document_gives_each_roles_home():
    """The pages read it from the vocabulary document they embed (web/pages.py), not from a copy."""
    from dispatch.vocabulary import document

    assert {r["code"]: r["home"] for r in document()["roles"]} == {**dict(HOME_PAGE), "system": None}

"""The server-rendered login form speaks the reader's language: zh-CN by default with no English beside it,
English after the switch (the cookie the built pages' switch sets too), refusals included; the switch only
returns to paths of this site."""
from __future__ import annotations

import re

import pytest
import requests

pytestmark = pytest.mark.integration


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_login_is_chinese_by_default_and_english_after_the_switch(server, make_user):
    base, _ = server
    make_user("lang-op", "operator")
    s = requests.Session()
    page = s.get(f"{base}/login", timeout=10)
    assert "用户名" in page.text and "Username" not in page.text
    r = s.post(f"{base}/login", data={"csrf_token": _csrf(page.text), "username": "lang-op", "password": "nope"},
               timeout=10)
    assert r.status_code == 401 and "用户名或密码错误" in r.text and "Wrong" not in r.text

    switched = s.get(f"{base}/lang/en", params={"next": "/login?next=/console"}, allow_redirects=False, timeout=10)
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/login?next=/console")
    assert s.cookies.get("yunguan_lang") == "en"
    page = s.get(f"{base}/login", timeout=10)
    assert "Username" in page.text and "用户名" not in page.text
    r = s.post(f"{base}/login", data={"csrf_token": _csrf(page.text), "username": "lang-op", "password": "nope"},
               timeout=10)
    assert r.status_code == 401 and "Wrong username or password" in r.text and "用户名或密码错误" not in r.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/x\r\nSet-Cookie: a=b"])
def test_the_language_switch_returns_only_to_this_site(server, target):
    base, _ = server
    r = requests.get(f"{base}/lang/zh-CN", params={"next": target}, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login"), r.headers["Location"]

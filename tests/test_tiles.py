"""The console's optional base map: off by default (no request leaves the site), and when a tile server is
configured its URL reaches the page and its origin — only its origin — is allowed by the CSP."""
from __future__ import annotations

import pytest

from config import SettingsError, load_settings
from web.app import tile_origin

pytestmark = pytest.mark.integration


def _console(settings, make_user, **changes):
    from web.app import create_app
    from yunguan.wiring import build

    deps = build(settings.replace(**changes))
    try:
        app, _ = create_app(deps, lambda: None, relay_events=False)
        user = make_user("duty", "operator", supervisor=True)
        client = app.test_client()
        with client.session_transaction() as session:
            session["uid"], session["ep"] = user.id, user.token_epoch
        response = client.get("/console")
        assert response.status_code == 200
        return response.headers["Content-Security-Policy"], response.get_data(as_text=True)
    finally:
        deps.close()


def test_no_tiles_by_default(settings, clean_db, make_user):
    csp, html = _console(settings, make_user)
    assert "img-src 'self' data: blob:;" in csp
    assert '"tile_url":""' in html  # the page's boot document (web/assets.py)


def test_a_configured_tile_server_reaches_the_page_and_the_csp(settings, clean_db, make_user):
    url = "https://{s}.tiles.example.gov.cn/city/{z}/{x}/{y}.png"
    csp, html = _console(settings, make_user, tile_url=url, tile_attribution="© 长春市自然资源局")
    assert "img-src 'self' data: blob: https://*.tiles.example.gov.cn;" in csp
    assert "script-src 'self';" in csp  # nothing else is loosened
    assert '"tile_url":"https://{s}.tiles.example.gov.cn/city/{z}/{x}/{y}.png"' in html
    assert "© 长春市自然资源局" in html


def test_tile_origins_and_bad_values():
    assert tile_origin("/tiles/{z}/{x}/{y}.png") == ""
    assert tile_origin("http://10.1.2.3:8080/{z}/{x}/{y}.png") == "http://10.1.2.3:8080"
    with pytest.raises(SettingsError, match="tile_url"):
        load_settings({}, tile_url="javascript:alert(1)")
    with pytest.raises(SettingsError, match="tile_url"):
        load_settings({}, tile_url="//cdn.example.com/{z}/{x}/{y}.png")

"""Open311 GeoReport v2 over HTTP with the real server, worker and broker: discovery, services, a POST with an
API key followed to `closed` through the native API, the spec's filters, personal data never in a GET, and
every refusal in the spec's error format, in JSON and XML."""
from __future__ import annotations

import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import requests
from hypothesis import strategies as st
from sqlalchemy import text

from application import open311 as spec
from tests.helpers import wait_for, worker_env

pytestmark = pytest.mark.integration

NANGUAN = {"lat": "43.7126", "long": "125.4388"}
NANGUAN_UNIT = "220102-SANITATION"  # 暴露垃圾 (020102) in 南关区 goes to the district's 环卫 branch
PERSONAL = {"email": "zhang.san@example.cn", "first_name": "三丰", "last_name": "张",
            "phone": "(139) 8765-4321", "device_id": "dev-77aa", "account_id": "acct-9911"}


# --- the pure mapping --------------------------------------------------------------------------------------

def test_mapping_masks_numbers_and_names_statuses_in_public_words():
    assert spec.mask_text("电话13812345678，身份证220102199001011234") == "电话138****5678，身份证220102********1234"
    assert spec.mask_text("编号 2201021990010112345 不是身份证") == "编号 2201021990010112345 不是身份证"
    assert spec.open_or_closed("closed") == spec.open_or_closed("rejected") == "closed"
    assert spec.open_or_closed("returned") == "open"
    assert spec.status_notes("close", "closed") == "结案 · 已结案"
    assert spec.status_notes("return", "returned") == "退回 · 重新派遣中"
    assert spec.status_notes("create", "pending") == "已受理 · 待处理"
    assert spec.status_notes("reject", "rejected") == "不予立案"
    assert spec.status_notes(None, None) is None


# --- helpers -----------------------------------------------------------------------------------------------

def _cli(settings, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yunguan.cli", *args], env=worker_env(settings),
                          capture_output=True, text=True, timeout=60)


def _new_key(settings, channel: str | None = None) -> tuple[str, str]:
    name = f"app-{uuid.uuid4().hex[:8]}"
    out = _cli(settings, "apikeys", "add", name, *(["--channel", channel] if channel else []))
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("yg_") and len(key) > 40
    return name, key


def _xml(r: requests.Response) -> ET.Element:
    assert r.headers["Content-Type"].startswith("text/xml"), r.headers["Content-Type"]
    assert r.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(r.content)


def _error(r: requests.Response, status: int, fmt: str) -> str:
    """The spec's error list with the HTTP status; returns the description."""
    assert r.status_code == status, (r.status_code, r.text)
    if fmt == "json":
        assert r.headers["Content-Type"].startswith("application/json")
        body = r.json()
        assert isinstance(body, list) and body[0]["code"] == status, body
        return body[0]["description"]
    root = _xml(r)
    assert root.tag == "errors" and root.find("error/code").text == str(status), r.text
    return root.find("error/description").text


def _post(base: str, fields: dict, fmt: str = "json", **kwargs) -> requests.Response:
    return requests.post(f"{base}/open311/v2/requests.{fmt}", data=fields, timeout=10, **kwargs)


def _token_to_no(base: str, token: str) -> str:
    def known():
        r = requests.get(f"{base}/open311/v2/tokens/{token}.json", timeout=5)
        assert r.status_code == 200, r.text
        return r.json()[0].get("service_request_id")
    return wait_for(known, what="the token's service_request_id")


def _posted_no(base: str, r: requests.Response) -> str:
    """The ticket number of a POST's answer: at once when the worker was quicker, else through its token."""
    assert r.status_code == 200, r.text
    item = r.json()[0]
    assert ("token" in item) != ("service_request_id" in item), item  # never both (the spec)
    return item.get("service_request_id") or _token_to_no(base, item["token"])


def _token(base: str, username: str) -> dict:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "secret-pass-1"},
                      timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _act(base: str, headers: dict, no: str, action: str, **fields) -> dict:
    version = requests.get(f"{base}/api/v1/tickets/{no}", headers=headers, timeout=10).json()["version"]
    r = requests.post(f"{base}/api/v1/tickets/{no}/actions", headers=headers, timeout=10,
                      json={"action": action, "version": version, **fields})
    assert r.status_code == 200, (action, r.status_code, r.text)
    return r.json()


# --- discovery and services --------------------------------------------------------------------------------

def test_discovery_and_services_in_json_and_xml(server, engine):
    base, _ = server
    d = requests.get(f"{base}/open311/v2/discovery.json", timeout=10)
    assert d.status_code == 200 and d.headers["Content-Type"].startswith("application/json")
    endpoint = d.json()["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == f"{base}/open311/v2" and set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert d.json()["changeset"] and d.json()["key_service"]
    root = _xml(requests.get(f"{base}/open311/v2/discovery.xml", timeout=10))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == endpoint["formats"]

    with engine.connect() as conn:
        leaves = dict(conn.execute(text("SELECT code, name FROM categories WHERE length(code) = 6")).all())
        parent = conn.execute(text("SELECT name FROM categories WHERE code = '0201'")).scalar()
    listed = requests.get(f"{base}/open311/v2/services.json", timeout=10).json()
    assert {s["service_code"] for s in listed} == set(leaves)  # one service per 小类, no 大类
    garbage = next(s for s in listed if s["service_code"] == "020102")
    assert garbage["service_name"] == leaves["020102"] and garbage["group"] == parent
    assert garbage["metadata"] is False and garbage["type"] == "batch" and parent in garbage["keywords"]
    xml_services = _xml(requests.get(f"{base}/open311/v2/services.xml", timeout=10))
    assert xml_services.tag == "services"
    assert [s.find("service_code").text for s in xml_services.findall("service")] == [s["service_code"] for s in listed]
    assert xml_services.find("service[service_code='020102']/metadata").text == "false"
    assert xml_services.find("service[service_code='020102']/group").text == parent

    definition = requests.get(f"{base}/open311/v2/services/020102.json", timeout=10)
    assert definition.status_code == 200 and definition.json() == {"service_code": "020102", "attributes": []}
    root = _xml(requests.get(f"{base}/open311/v2/services/020102.xml", timeout=10))
    assert root.tag == "service_definition" and root.find("service_code").text == "020102"
    for fmt in ("json", "xml"):  # a 大类 is no service
        assert "0201" in _error(requests.get(f"{base}/open311/v2/services/0201.{fmt}", timeout=10), 404, fmt)


# --- a request through the whole loop ----------------------------------------------------------------------

def test_a_posted_request_is_followed_to_closed_and_personal_data_never_leaves(server, settings, engine, make_user,
                                                                               request):
    base, _ = server
    _, key = _new_key(settings)
    make_user("duty", "operator", supervisor=True)
    make_user("clerk", "operator")
    make_user("nanguan", "department", unit=NANGUAN_UNIT)
    fields = {"api_key": key, "jurisdiction_id": "changchun.gov.cn", "service_code": "020102", **NANGUAN,
              "address_string": "南关区人民大街 100 号", "description": "垃圾堆放多日，联系 13812345678",
              "media_url": "https://photos.example.org/a.jpg", **PERSONAL}
    r = _post(base, fields)
    assert r.status_code == 200, r.text
    posted = r.json()
    assert len(posted) == 1 and posted[0]["token"].startswith("o311-") and "service_request_id" not in posted[0]
    assert "处置" in posted[0]["service_notice"]
    token = posted[0]["token"]
    pending = requests.get(f"{base}/open311/v2/tokens/{token}.json", timeout=10)  # accepted, no worker yet
    assert pending.status_code == 200 and pending.json() == [{"token": token}]
    request.getfixturevalue("worker")
    no = _token_to_no(base, token)
    root = _xml(requests.get(f"{base}/open311/v2/tokens/{token}.xml", timeout=10))
    assert root.tag == "service_requests"
    assert root.find("request/service_request_id").text == no and root.find("request/token").text == token

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT channel, envelope FROM reports WHERE report_id = :t"), {"t": token}).one()
        unit_name = conn.execute(text("SELECT name FROM units WHERE code = :u"), {"u": NANGUAN_UNIT}).scalar()
    assert stored.channel == "public"  # the key's channel (default)
    assert stored.envelope["reporter"] == {"id": None, "name": "三丰 张", "phone": "139 8765-4321"}
    assert stored.envelope["open311"]["email"] == PERSONAL["email"]

    got = requests.get(f"{base}/open311/v2/requests/{no}.json", timeout=10)
    assert got.status_code == 200
    item = got.json()[0]
    assert item["service_request_id"] == no and item["status"] == "open"
    assert item["service_code"] == "020102" and item["service_name"] and item["agency_responsible"] == unit_name
    assert item["description"] == "垃圾堆放多日，联系 138****5678"
    assert item["status_notes"] == "派遣 · 已派遣"
    assert abs(item["lat"] - 43.7126) < 1e-6 and abs(item["long"] - 125.4388) < 1e-6
    for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert item[field].endswith("+08:00"), (field, item[field])  # RFC 3339 with the city's offset
        datetime.fromisoformat(item[field])
    assert "media_url" not in item  # no stored photo; a sender's own URL is not passed on

    duty, clerk, nanguan = (_token(base, u) for u in ("duty", "clerk", "nanguan"))
    _act(base, nanguan, no, "acknowledge")
    _act(base, nanguan, no, "handle", note="已清运（处置人 李四 13900001111）")
    _act(base, clerk, no, "verify", note="现场核查通过")
    _act(base, duty, no, "close")

    root = _xml(requests.get(f"{base}/open311/v2/requests/{no}.xml", timeout=10))
    request_el = root.find("request")
    assert request_el.find("status").text == "closed"
    assert request_el.find("status_notes").text == "结案 · 已结案"
    closed = request_el.find("updated_datetime").text
    assert datetime.fromisoformat(closed) >= datetime.fromisoformat(item["requested_datetime"])
    listed = requests.get(f"{base}/open311/v2/requests.json", params={"status": "closed"}, timeout=10).json()
    assert [x["service_request_id"] for x in listed] == [no]

    bodies = [requests.get(f"{base}/open311/v2/{path}", timeout=10).text for path in (
        f"requests/{no}.json", f"requests/{no}.xml", "requests.json", "requests.xml", f"tokens/{token}.json",
        f"tokens/{token}.xml")]
    for body in bodies:
        for value in (*PERSONAL.values(), "8765", "13812345678", "13900001111", "李四", "三丰", "photos.example.org"):
            assert value not in body, (value, body[:300])


def test_a_key_posts_on_its_channel_and_json_bodies_are_accepted(server, worker, settings, engine):
    base, _ = server
    _, key = _new_key(settings, "hotline")
    r = requests.post(f"{base}/open311/v2/requests.json", timeout=10, json={
        "api_key": key, "service_code": "020102", "lat": 43.7126, "long": 125.4388, "description": "JSON 上报"})
    no = _posted_no(base, r)
    with engine.connect() as conn:
        channels = conn.execute(text("SELECT r.channel FROM reports r JOIN tickets t ON t.id = r.ticket_id "
                                     "WHERE t.ticket_no = :no"), {"no": no}).scalars().all()
    assert channels == ["hotline"]
    assert requests.get(f"{base}/open311/v2/requests/{no}.json", timeout=10).json()[0]["description"] == "JSON 上报"
    refused = _cli(settings, "apikeys", "add", f"s-{uuid.uuid4().hex[:6]}", "--channel", "sensor")
    assert refused.returncode == 2 and "sensor" not in refused.stdout


# --- the spec's filters ------------------------------------------------------------------------------------

def test_filters_ids_codes_status_and_dates(server, worker, settings):
    base, _ = server
    _, key = _new_key(settings)
    nos = []
    for i, code in enumerate(("020102", "020102", "010101")):  # 200 m apart: three tickets, no merge
        where = {"lat": NANGUAN["lat"], "long": f"{float(NANGUAN['long']) + i * 0.0025:.6f}"}
        nos.append(_posted_no(base, _post(base, {"api_key": key, "service_code": code, **where,
                                                 "description": f"筛选 {code}"})))
    assert len(set(nos)) == 3
    url = f"{base}/open311/v2/requests.json"

    def ids(**params) -> list[str]:
        r = requests.get(url, params=params, timeout=10)
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json()]

    assert sorted(ids()) == sorted(nos)  # the default window: the last 90 days
    assert sorted(ids(service_code="020102")) == sorted(nos[:2])
    assert ids(service_code="010101,020199") == [nos[2]]
    assert sorted(ids(status="open")) == sorted(nos) and ids(status="closed") == []
    assert sorted(ids(status="open,closed")) == sorted(nos)
    now = datetime.now(UTC)
    assert sorted(ids(start_date=(now - timedelta(hours=1)).isoformat(), end_date=(now + timedelta(hours=1))
                      .isoformat())) == sorted(nos)
    assert ids(start_date="2020-01-01T00:00:00Z", end_date="2020-03-01T00:00:00+08:00") == []
    assert ids(end_date=(now - timedelta(days=1)).isoformat()) == []
    # service_request_id overrides every other argument
    assert sorted(ids(service_request_id=f"{nos[0]},{nos[2]}", status="closed", service_code="999999")) == sorted(
        [nos[0], nos[2]])
    xml_ids = [e.text for e in _xml(requests.get(f"{base}/open311/v2/requests.xml",
                                                 params={"service_code": "020102"}, timeout=10))
               .findall("request/service_request_id")]
    assert sorted(xml_ids) == sorted(nos[:2])

    for fmt in ("json", "xml"):
        bad = f"{base}/open311/v2/requests.{fmt}"
        assert "start_date" in _error(requests.get(bad, params={"start_date": "2026-01-01"}, timeout=10), 400, fmt)
        assert "end_date" in _error(requests.get(bad, params={"end_date": "yesterday"}, timeout=10), 400, fmt)
        assert "90 days" in _error(requests.get(bad, params={"start_date": "2026-01-01T00:00:00Z",
                                                             "end_date": "2026-06-01T00:00:00Z"}, timeout=10), 400, fmt)
        assert "later" in _error(requests.get(bad, params={"start_date": "2026-02-01T00:00:00Z",
                                                           "end_date": "2026-01-01T00:00:00Z"}, timeout=10), 400, fmt)
        assert "status" in _error(requests.get(bad, params={"status": "pending"}, timeout=10), 400, fmt)
        assert "service_request_id" in _error(requests.get(bad, params={"service_request_id": ",".join(
            str(i) for i in range(101))}, timeout=10), 400, fmt)


# --- every refusal -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_refusal_in_the_specs_error_format(server, settings, fmt):
    base, _ = server
    name, key = _new_key(settings)
    ok = {"api_key": key, "service_code": "020102", **NANGUAN}
    assert "api_key" in _error(_post(base, {k: v for k, v in ok.items() if k != "api_key"}, fmt), 403, fmt)
    assert "api_key" in _error(_post(base, {**ok, "api_key": "yg_not-a-key"}, fmt), 403, fmt)
    assert "service_code" in _error(_post(base, {**ok, "service_code": "999999"}, fmt), 404, fmt)
    assert "service_code" in _error(_post(base, {**ok, "service_code": "0201"}, fmt), 404, fmt)
    assert "service_code" in _error(_post(base, {k: v for k, v in ok.items() if k != "service_code"}, fmt), 400, fmt)
    no_place = {k: v for k, v in ok.items() if k not in ("lat", "long")}
    assert "address_string" in _error(_post(base, no_place, fmt), 400, fmt)
    assert "long" in _error(_post(base, {**no_place, "lat": "43.7"}, fmt), 400, fmt)
    assert "lat" in _error(_post(base, {**ok, "lat": "north"}, fmt), 400, fmt)
    assert "lat" in _error(_post(base, {**ok, "lat": "0.5", "long": "10.0"}, fmt), 400, fmt)  # outside China
    assert "description" in _error(_post(base, {**ok, "description": "长" * 2001}, fmt), 400, fmt)
    assert "email" in _error(_post(base, {**ok, "email": "not-an-address"}, fmt), 400, fmt)
    assert "phone" in _error(_post(base, {**ok, "phone": "call me"}, fmt), 400, fmt)
    assert "media_url" in _error(_post(base, {**ok, "media_url": "javascript:alert(1)"}, fmt), 400, fmt)
    odd = _post(base, {**ok, "description": "<b>&amp;</b> ]]> \x01"}, fmt)  # escaped in XML, control char dropped
    assert odd.status_code == 200, odd.text
    token = odd.json()[0].get("token") if fmt == "json" else _xml(odd).find("request/token").text
    assert token is None or token.startswith("o311-")
    revoked = _cli(settings, "apikeys", "revoke", name)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in _error(_post(base, ok, fmt), 403, fmt)
    assert _cli(settings, "apikeys", "revoke", "no-such-key").returncode == 2

    get = lambda path: requests.get(f"{base}/open311/v2/{path}", timeout=10)  # noqa: E731
    assert "not found" in _error(get(f"requests/2099-0101-0001.{fmt}"), 404, fmt)
    assert "token" in _error(get(f"tokens/o311-{'0' * 32}.{fmt}"), 404, fmt)
    assert "token" in _error(get(f"tokens/loop-123.{fmt}"), 404, fmt)
    assert _error(get(f"nothing-here.{fmt}"), 404, fmt)
    assert _error(requests.put(f"{base}/open311/v2/requests.{fmt}", timeout=10), 405, fmt)
    assert "%00" not in _error(get(f"requests.{fmt}?status=open%00"), 400, fmt)  # request hygiene, spec format


def test_posts_are_rate_limited_per_key(server, settings):
    base, app = server
    app.config["OPEN311_POST_RATE_LIMIT"] = "2/minute"
    _, key = _new_key(settings)
    _, other = _new_key(settings)
    ok = {"api_key": key, "service_code": "020102", **NANGUAN}
    assert [_post(base, ok).status_code for _ in range(2)] == [200, 200]
    r = _post(base, ok, "xml")
    assert "too many" in _error(r, 429, "xml") and int(r.headers["Retry-After"]) >= 1
    assert _post(base, {**ok, "api_key": other}).status_code == 200  # per key


# --- fuzz: never a 5xx, always the spec's shape ------------------------------------------------------------

_NAMES = ("service_request_id", "service_code", "start_date", "end_date", "status", "jurisdiction_id",
          "api_key", "lat", "long", "address_string", "address_id", "description", "email", "phone",
          "first_name", "last_name", "media_url", "device_id", "account_id")
_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=60),
    st.sampled_from(["", " ", "020102", "0201", "open", "closed", "open,closed", "43.7126", "125.4388", "nan",
                     "-inf", "1e400", "2026-11-30T08:00:00+08:00", "0001-01-01T00:00:00+14:00",
                     "9999-12-31T23:59:59-12:00", "2026-11-30", "a@b.cn", "+86 138-1234-5678", "\x00", "长" * 3000]),
)


def _sane(r, fmt: str) -> None:
    assert r.status_code < 500 or r.status_code == 503, (r.status_code, r.get_data(as_text=True)[:300])
    if r.status_code >= 400:
        if fmt == "json":
            body = r.get_json()
            assert isinstance(body, list) and body[0]["code"] == r.status_code, body
        else:
            root = ET.fromstring(r.get_data())
            assert root.tag == "errors" and root.find("error/code").text == str(r.status_code)
    elif fmt == "xml":
        ET.fromstring(r.get_data())  # well-formed whatever the input
    else:
        assert isinstance(r.get_json(), list | dict)


def test_fuzz_gets_and_posts_are_never_5xx_and_always_the_specs_shape(server, settings):
    from urllib.parse import quote, urlencode

    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings

    _, app = server
    app.config["OPEN311_POST_RATE_LIMIT"] = "100000/minute"
    _, key = _new_key(settings)
    client = app.test_client()
    fuzz = hsettings(max_examples=150, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))
    paths = st.sampled_from(["requests", "services", "discovery"]) | st.builds(
        lambda kind, seg: f"{kind}/{quote(seg.encode('utf-8', 'surrogatepass'), safe='')}",
        st.sampled_from(["requests", "services", "tokens"]), st.text(min_size=1, max_size=40).filter(
            lambda s: s.strip("./") and "/" not in s))
    fields = st.lists(st.tuples(st.sampled_from(_NAMES), _TEXT), max_size=6)

    @fuzz
    @given(path=paths, fmt=st.sampled_from(["json", "xml"]), query=fields)
    def gets(path, fmt, query):
        _sane(client.get(f"/open311/v2/{path}.{fmt}", query_string=urlencode(
            [(k, v.encode("utf-8")) for k, v in query])), fmt)

    @fuzz
    @given(fmt=st.sampled_from(["json", "xml"]), form=fields, with_key=st.booleans(), as_json=st.booleans())
    def posts(fmt, form, with_key, as_json):
        data = dict(form)
        if with_key:
            data.update(api_key=key, service_code=data.get("service_code", "020102"))
        if as_json:
            r = client.post(f"/open311/v2/requests.{fmt}", json=data)
        else:
            r = client.post(f"/open311/v2/requests.{fmt}", data=data)
        _sane(r, fmt)

    gets()
    posts()

"""Browser tests of the phone pages (issue 15): the resident's form (/report), the grid worker's page (/grid) and
/track, with Debian's Chromium at phone size against the real server, worker, broker and database. Offline is
Playwright's network emulation; the service worker and IndexedDB are the browser's own."""
from __future__ import annotations

import io
import json
import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.helpers import wait_for

pytestmark = pytest.mark.integration

NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}
PHONE = {"width": 390, "height": 844}


def _report(base: str, **fields) -> str:
    report_id = f"b-{uuid.uuid4().hex[:12]}"
    body = {"report_id": report_id, "category": "020102", "location": NANGUAN, **fields}
    r = requests.post(f"{base}/api/v1/reports", json=body, timeout=10)
    assert r.status_code == 202, r.text
    return report_id


def _ticket_no(base: str, report_id: str, channel: str = "public", headers: dict | None = None) -> str:
    return wait_for(lambda: (requests.get(f"{base}/api/v1/reports/{channel}/{report_id}", headers=headers or {},
                                          timeout=5).json().get("ticket_no")), what="the ticket number")


def _token(base: str, username: str) -> dict:
    token = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "secret-pass-1"},
                          timeout=10).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def phone(browser):
    """A phone-sized page with the device's position at the Nanguan test point; page errors collected."""
    contexts = []

    def _open(base: str, path: str, login: str | None = None, service_workers: str = "allow"):
        context = browser.new_context(viewport=PHONE, locale="zh-CN", permissions=["geolocation"],
                                      geolocation={"longitude": NANGUAN["lon"], "latitude": NANGUAN["lat"]},
                                      service_workers=service_workers)
        contexts.append(context)
        page = context.new_page()
        page.problems = []
        page.on("pageerror", lambda exc: page.problems.append(f"pageerror: {exc}"))
        page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
        if login:
            page.goto(f"{base}/login?next={path}")
            page.fill("input[name=username]", login)
            page.fill("input[name=password]", "secret-pass-1")
            page.click("button[type=submit]")
            page.wait_for_url(f"**{path}")
        else:
            page.goto(f"{base}{path}")
        return page

    yield _open
    for context in contexts:
        context.close()


def _pick_category(page, search: str, code: str) -> None:
    if page.locator("[data-test=category-change]").count():  # residents start at "not sure"
        page.click("[data-test=category-change]")
    page.locator(".category-picker input").fill(search)
    page.locator(f".category-picker [data-code='{code}']").click()
    expect(page.locator("[data-test=category-chosen]")).to_have_attribute("data-code", code)


def _locate(page) -> None:
    page.click("#locate")
    expect(page.locator("#located")).to_contain_text("43.71")
    expect(page.locator(".pin-map .leaflet-marker-icon")).to_have_count(1)


def _service_worker_ready(page) -> None:
    """The page is controlled by the service worker (so it opens offline from now on)."""
    ready = """async () => !!navigator.serviceWorker.controller &&
        !!(await (await caches.open("yunguan-phone-v1")).match(location.pathname))"""
    wait_for(lambda: page.evaluate(ready), 20, interval=0.2, what="the service worker to keep the page")


def _grid_worker(app, make_user, grid_cell) -> None:
    make_user("gw01", "grid", grid=grid_cell)
    app.extensions["yunguan_routing"].reload()  # the grid cell may be new: do not wait for the periodic check


def test_resident_reports_with_geolocation_and_tracks_it(phone, server, worker, tmp_path):
    base, _ = server
    page = phone(base, "/report")
    _pick_category(page, "暴露垃圾", "020102")
    page.fill("#description", "小区门口垃圾堆放三天无人清理")
    _locate(page)
    page.fill("#phone", "13912345678")
    page.click("#submit")
    receipt = page.locator("#receipt")
    receipt.wait_for(timeout=15000)
    report_id = receipt.text_content().strip()
    assert re.fullmatch(r"R\d{6}-[0-9A-F]{12}", report_id), report_id
    expect(page.locator("#done")).to_contain_text("已受理")
    page.screenshot(path=str(tmp_path / "report.png"))

    ticket_no = _ticket_no(base, report_id)
    page.click("#track-link")
    page.wait_for_url(f"**/track?q={report_id}")
    if not page.locator("#r-ticket").count():  # looked up before the worker had finished
        page.click("#track-form button[type=submit]")
    expect(page.locator("#r-ticket")).to_have_text(ticket_no, timeout=15000)
    body = page.inner_text("body")
    assert "已派遣" in body and "13912345678" not in body and "3912" not in body
    page.screenshot(path=str(tmp_path / "track.png"))

    # "My reports" on this phone: the number, its status in the residents' words and a link to /track.
    page.click("[data-test=my-reports-link]")
    page.wait_for_url("**/report#mine")
    mine = page.locator(f".my-report[data-report='{report_id}']")
    expect(mine).to_contain_text(ticket_no, timeout=10000)
    expect(mine.locator(".my-report-status")).to_have_text("已派遣")
    expect(mine.locator("a.track-link")).to_have_attribute("href", f"/track?q={report_id}")
    page.screenshot(path=str(tmp_path / "mine.png"))

    page.click("[data-test=lang-switch]")  # English at once, the vocabulary's words for residents too
    expect(page.locator(".van-nav-bar__title")).to_have_text("Report a problem")
    expect(mine.locator(".my-report-status")).to_have_text("Dispatched")
    assert page.problems == []


def test_grid_worker_reports_with_faked_geolocation_and_verifies(phone, server, worker, make_user, grid_cell,
                                                                  tmp_path):
    base, app = server
    _grid_worker(app, make_user, grid_cell)
    make_user("nanguan", "department", unit="220102-SANITATION")
    page = phone(base, "/grid", login="gw01")
    _pick_category(page, "暴露垃圾", "020102")
    page.fill("#description", "绿地内暴露垃圾")
    _locate(page)
    page.click("#submit")
    expect(page.locator("#sent")).to_contain_text("已上报", timeout=10000)
    report_id = page.locator("#sent").get_attribute("data-report")
    assert report_id.startswith("G")
    ticket_no = _ticket_no(base, report_id, channel="grid", headers=_token(base, "gw01"))

    # The department handles it over the API; the grid worker verifies it on site from the phone.
    headers = _token(base, "nanguan")
    for action, note in (("acknowledge", None), ("handle", "已清运")):
        version = requests.get(f"{base}/api/v1/tickets/{ticket_no}", headers=headers, timeout=10).json()["version"]
        r = requests.post(f"{base}/api/v1/tickets/{ticket_no}/actions", headers=headers, timeout=10,
                          json={"action": action, "version": version, **({"note": note} if note else {})})
        assert r.status_code == 200, r.text
    page.locator(".van-tab", has_text="核查任务").click()
    task = page.locator(f".task-card[data-ticket='{ticket_no}']")
    expect(task).to_contain_text("已清运", timeout=15000)  # the department's note, for the check on site
    task.locator(".finding textarea").fill("现场已清理干净")
    page.screenshot(path=str(tmp_path / "grid-tasks.png"), full_page=True)
    task.locator("button[data-action=verify]").click()
    expect(page.locator(f".task-card[data-ticket='{ticket_no}']")).to_have_count(0, timeout=10000)
    assert requests.get(f"{base}/api/v1/tickets/{ticket_no}", headers=headers, timeout=10).json()["status"] \
        == "verified"
    page.locator(".van-tab", has_text="我的上报").click()
    expect(page.locator(f".my-report[data-report='{report_id}']")).to_contain_text(ticket_no, timeout=10000)
    assert page.problems == []


def test_a_grid_report_submitted_offline_is_kept_and_arrives_when_back_online(phone, server, worker, make_user,
                                                                             grid_cell, tmp_path):
    """Offline: the submit is kept on the phone (IndexedDB) with a plain-Chinese note; a reload while offline
    opens the page from the service worker with the item still there; online again, it is sent by itself and
    becomes a ticket."""
    base, app = server
    _grid_worker(app, make_user, grid_cell)
    page = phone(base, "/grid", login="gw01")
    _service_worker_ready(page)
    _pick_category(page, "暴露垃圾", "020102")  # categories are now kept on the phone too

    page.context.set_offline(True)
    expect(page.locator("[data-test=offline-bar]")).to_be_visible()
    page.fill("#description", "离线时看到的暴露垃圾")
    _locate(page)
    page.click("#submit")
    sent = page.locator("#sent")
    expect(sent).to_contain_text("当前没有网络，已保存在本机", timeout=10000)
    report_id = sent.get_attribute("data-report")
    item = page.locator(f".outbox-item[data-report='{report_id}']")
    expect(item).to_have_attribute("data-state", "waiting")
    expect(page.locator("[data-test=outbox-explain]")).to_contain_text("联网后会自动发送")
    expect(page.locator("#submit")).to_be_enabled()
    page.screenshot(path=str(tmp_path / "grid-offline.png"))

    page.reload()  # still offline: the service worker serves the page, IndexedDB still has the report
    expect(page.locator(f".outbox-item[data-report='{report_id}']")).to_have_attribute("data-state", "waiting")
    expect(page.locator("[data-test=offline-bar]")).to_be_visible()
    headers = _token(base, "gw01")
    assert requests.get(f"{base}/api/v1/reports/grid/{report_id}", headers=headers, timeout=5).status_code == 404

    page.context.set_offline(False)  # the online event sends it
    expect(page.locator(f".outbox-item[data-report='{report_id}']")).to_have_count(0, timeout=20000)
    ticket_no = _ticket_no(base, report_id, channel="grid", headers=headers)
    ticket = requests.get(f"{base}/api/v1/tickets/{ticket_no}", headers=headers, timeout=10).json()
    assert ticket["description"] == "离线时看到的暴露垃圾" and len(ticket["reports"]) == 1
    assert page.problems == []

    # Logging out drops the kept /grid page (it carries the login's token, which the logout revoked anyway).
    page.click("[data-test=logout]")
    page.wait_for_url("**/login")
    kept = "async () => !!(await (await caches.open('yunguan-phone-v1')).match('/grid'))"
    wait_for(lambda: not page.evaluate(kept), 10, interval=0.2, what="the kept /grid page to be dropped")


def test_a_large_phone_photo_is_made_small_and_accepted_with_progress(phone, server, worker, make_user, tmp_path):
    """A 6000×4000, ~12 MB JPEG (above the server's 8 MB limit per photo) is resized in the browser to at most
    2560 px and sent with visible progress (upload slowed down so that the progress is seen)."""
    from PIL import Image

    base, _ = server
    w, h = 6000, 4000
    noise = Image.effect_noise((w // 2, h // 2), 60).resize((w, h))
    big = Image.merge("RGB", (noise, Image.linear_gradient("L").resize((w, h)), Image.effect_noise((w, h), 40)))
    path = tmp_path / "IMG_0001.jpg"
    big.save(path, "JPEG", quality=90)
    assert path.stat().st_size > 10_000_000

    page = phone(base, "/report")
    page.fill("#description", "路灯杆倾斜，见照片")
    page.fill("#address", "人民大街1000号附近")
    page.set_input_files("#photos", str(path))
    expect(page.locator("[data-test=photo-thumb]")).to_have_count(1, timeout=30000)
    expect(page.locator("[data-test=photo-message]")).to_have_count(0)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20, "downloadThroughput": -1,
                                                  "uploadThroughput": 400 * 1024})
    page.click("#submit")
    expect(page.locator("[data-test=upload-progress]")).to_be_visible(timeout=5000)
    receipt = page.locator("#receipt")
    receipt.wait_for(timeout=60000)
    report_id = receipt.text_content().strip()
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})

    make_user("duty", "operator", supervisor=True)
    headers = _token(base, "duty")
    ticket_no = _ticket_no(base, report_id)
    ticket = requests.get(f"{base}/api/v1/tickets/{ticket_no}", headers=headers, timeout=10).json()
    urls = [a["url"] for r in ticket["reports"] for a in r.get("attachments") or []]
    assert len(urls) == 1
    photo = requests.get(f"{base}{urls[0]}", headers=headers, timeout=10)
    assert photo.status_code == 200
    with Image.open(io.BytesIO(photo.content)) as stored:
        assert max(stored.size) == 2560 and stored.size[0] > stored.size[1], stored.size
    assert len(photo.content) < 8_000_000
    assert page.problems == []


def test_the_status_label_shown_comes_from_the_served_vocabulary(phone, server, worker):
    """/track shows the status label of the vocabulary document the server embedded in the page: the document
    is rewritten on its way to the browser, and the page shows the rewritten label, which no copy in a
    script could (decision 0016, "Vocabulary")."""
    from dispatch import vocabulary

    base, _ = server
    ticket_no = _ticket_no(base, _report(base, description="井盖缺失"))
    status = requests.get(f"{base}/api/v1/tickets/{ticket_no}", timeout=10).json()["status"]
    entry = next(s for s in vocabulary.document()["statuses"] if s["code"] == status)
    shown = entry.get("public", entry)
    embedded = re.compile(r'(<script type="application/json" id="yunguan-boot">)(.*?)(</script>)', re.S)

    def mark(route):
        response = route.fetch()
        found = embedded.search(response.text())
        assert found, "the page embeds no boot document"
        boot = json.loads(found.group(2))
        for s in boot["vocabulary"]["statuses"]:
            for label in (s, s.get("public") or {}):
                if "zh" in label:
                    label["zh"] = f"«{label['zh']}»"
        text = json.dumps(boot, ensure_ascii=False).replace("<", "\\u003c")
        body = response.text()[:found.start(2)] + text + response.text()[found.end(2):]
        route.fulfill(response=response, body=body)

    page = phone(base, "/track", service_workers="block")  # page.route does not see a service worker's fetches
    page.route(lambda url: "/track" in url and "/static/" not in url, mark)
    page.goto(f"{base}/track?q={ticket_no}")
    expect(page.locator("#r-ticket")).to_have_text(ticket_no, timeout=15000)
    expect(page.locator("#r-status")).to_have_text(f"«{shown['zh']}»")
    assert page.problems == []


def test_the_phone_pages_are_installable(server):
    """Manifests with icons that load, the service worker at the root with a scope over the pages, and the list
    of files it keeps, each of which the server has; /report names its manifest, the CSP allows the worker."""
    base, _ = server
    page = requests.get(f"{base}/report", timeout=10)
    assert '<link rel="manifest" href="/manifest/report.webmanifest">' in page.text
    assert "worker-src 'self'" in page.headers["Content-Security-Policy"]
    for app, start in (("grid", "/grid"), ("report", "/report")):
        r = requests.get(f"{base}/manifest/{app}.webmanifest", timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/manifest+json")
        manifest = r.json()
        assert manifest["start_url"] == start and manifest["scope"] == "/" and manifest["display"] == "standalone"
        sizes = {i["sizes"] for i in manifest["icons"]}
        assert {"192x192", "512x512"} <= sizes
        for icon in manifest["icons"]:
            assert requests.get(f"{base}{icon['src']}", timeout=10).status_code == 200
    assert requests.get(f"{base}/manifest/nope.webmanifest", timeout=10).status_code == 404

    sw = requests.get(f"{base}/sw.js", timeout=10)
    assert sw.status_code == 200 and "javascript" in sw.headers["Content-Type"]
    assert sw.headers["Service-Worker-Allowed"] == "/" and "no-cache" in sw.headers["Cache-Control"]
    assert "import " not in sw.text.split("\n", 1)[0]  # a classic worker script: no module imports

    listed = requests.get(f"{base}/offline-files.json", timeout=10).json()
    assert listed["pages"] == ["/grid", "/report", "/track"]
    scripts = re.findall(r'<script type="module" src="([^"]+)"', page.text)
    assert scripts and set(scripts) <= set(listed["files"])
    for url in listed["files"]:
        assert requests.get(f"{base}{url}", timeout=10).status_code == 200, url

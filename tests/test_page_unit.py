"""The department workbench (/unit, frontend/src/pages/unit): its queue by deadline, live, with the ticket's
place, countdown, photos and action forms whose typed text survives live updates. Browser tests drive Debian's
Chromium against the real server, worker, broker and database; the queue's API is tested over HTTP."""
from __future__ import annotations

import pytest
import requests

from tests.test_lookup_api import _at, _envelope, ingest

pytestmark = pytest.mark.integration

UNIT = "220102-SANITATION"


def _token(base: str, username: str) -> dict:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "secret-pass-1"},
                      timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_the_ticket_list_takes_several_statuses_and_names_an_unknown_one(server, deps, make_user):
    base, _ = server
    make_user("nanguan", "department", unit=UNIT)
    headers = _token(base, "nanguan")
    nos = ingest(deps, [_envelope(f"q-{i}", location=_at(east_m=150 * i)) for i in range(3)])
    no = nos[0]
    version = requests.get(f"{base}/api/v1/tickets/{no}", headers=headers, timeout=10).json()["version"]
    r = requests.post(f"{base}/api/v1/tickets/{no}/actions", headers=headers, timeout=10,
                      json={"action": "acknowledge", "version": version})
    assert r.status_code == 200, r.text

    def listed(*statuses):
        r = requests.get(f"{base}/api/v1/tickets", headers=headers, timeout=10,
                         params=[("status", s) for s in statuses] + [("sort", "deadline")])
        assert r.status_code == 200, r.text
        return {t["ticket_no"]: t["status"] for t in r.json()["items"]}

    assert listed("acknowledged") == {no: "acknowledged"}
    both = listed("dispatched", "acknowledged")
    assert set(both) == set(nos) and both[no] == "acknowledged"
    assert listed("closed") == {}
    bad = requests.get(f"{base}/api/v1/tickets", headers=headers, timeout=10,
                       params=[("status", "dispatched"), ("status", "lost")])
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"], bad.text

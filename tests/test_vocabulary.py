"""The vocabulary is written once (dispatch.vocabulary) and the pages get exactly that document from the server."""
from __future__ import annotations

import json
import re
from typing import get_args

import pytest
import requests

from application.envelope import ReportEnvelope
from config import settings as config_settings
from dispatch import transitions, vocabulary
from dispatch.actors import Party, Role
from dispatch.model import OPEN_STATUSES, Status
from dispatch.taxonomy import is_subclass_code, level_of
from dispatch.transitions import PREVIOUS, Action
from streams.topics import Topics

EMBEDDED = re.compile(r'<script type="application/json" id="yunguan-boot">(.*?)</script>', re.S)


def embedded_vocabulary(page_html: str) -> dict:
    """The vocabulary inside a page's boot document (web/assets.py), which the built pages read."""
    found = EMBEDDED.findall(page_html)
    assert len(found) == 1, "a page embeds its boot document exactly once"
    return json.loads(found[0])["vocabulary"]


def test_every_status_action_role_party_and_channel_has_both_labels():
    doc = vocabulary.document()
    assert [s["code"] for s in doc["statuses"]] == [str(s) for s in Status]
    assert {a["code"] for a in doc["actions"]} == {str(a) for a in Action} | set(vocabulary.HISTORY_ONLY_ACTIONS)
    assert [r["code"] for r in doc["roles"]] == [str(r) for r in Role]
    assert [p["code"] for p in doc["parties"]] == [str(p) for p in Party]
    for group in ("statuses", "actions", "roles", "parties", "channels", "deadline_states"):
        for entry in doc[group]:
            assert entry["zh"].strip() and entry["en"].strip(), (group, entry)
            assert not any("\u4e00" <= ch <= "\u9fff" for ch in entry["en"]), (group, entry)  # English second
    assert {s["code"] for s in doc["statuses"] if s["open"]} == {str(s) for s in OPEN_STATUSES}
    assert doc["open_statuses"] == [str(s) for s in Status if s in OPEN_STATUSES]


def test_the_python_users_read_the_one_list():
    """Channels, roles and publishers: the topics, the envelope type, the web's and the accounts' checks."""
    from store import users
    from web import api, auth, pages, sockets

    assert vocabulary.CHANNELS == ("grid", "hotline", "public", "sensor")  # contract §3
    assert Topics("x.").intake == tuple(f"x.reports.{c}" for c in vocabulary.CHANNELS)
    assert get_args(ReportEnvelope.model_fields["channel"].annotation) == vocabulary.CHANNELS
    assert api.CHANNEL_ROLES is vocabulary.CHANNEL_PUBLISHERS
    assert set(vocabulary.CHANNEL_PUBLISHERS) == set(vocabulary.CHANNELS)
    assert auth.STAFF_ROLES is vocabulary.STAFF_ROLES
    assert pages.CONSOLE_ROLES is vocabulary.CITY_WIDE_ROLES
    assert users.ACCOUNT_ROLES is vocabulary.ACCOUNT_ROLES
    assert vocabulary.ACCOUNT_ROLES == ("admin", "operator", "department", "grid", "hotline")  # contract §1
    # config sits below dispatch and keeps a copy for validating require_2fa_roles: it must not drift.
    assert config_settings._ROLES == vocabulary.ACCOUNT_ROLES
    user = users.User(1, "x", "hotline", None, None, False, True)
    assert sockets.rooms_for_user(user) == ["all"]


def test_the_transition_rows_served_are_the_table():
    rows = vocabulary.document()["transitions"]
    assert len(rows) == len(transitions.TRANSITIONS)
    for row in rows:
        for party in row["parties"]:
            t = transitions.find(Status(row["from"]), Action(row["action"]), Party(party))
            assert t is not None, row
            assert row["to"] == ("previous" if t.target is PREVIOUS else str(t.target))
    supervisor = [r["action"] for r in rows if r["from"] == "verified" and "supervisor" in r["parties"]]
    assert set(supervisor) == {str(a) for a in transitions.actions_for(Status.VERIFIED, Party.SUPERVISOR)}


def test_the_subclass_code_rule():
    assert [level_of(c) for c in ("02", "0201", "020102", "02010", "0201020", "02a1", "")] == [
        "root", "class", "subclass", None, None, None, None]
    assert is_subclass_code("020102") and not is_subclass_code("0201")
    assert not is_subclass_code("٠٢٠١٠٢")  # Arabic-Indic digits: str.isdigit() alone would say yes
    assert vocabulary.document()["category_code"]["subclass_digits"] == 6


@pytest.mark.integration
def test_pages_embed_the_served_document_and_categories_carry_their_level(server, make_user):
    base, _ = server
    expected = json.loads(json.dumps(vocabulary.document()))
    for path in ("/report", "/track"):
        r = requests.get(f"{base}{path}", timeout=10)
        assert r.status_code == 200
        assert embedded_vocabulary(r.text) == expected
        assert '<script type="module" src="/static/app/assets/' in r.text
    assert 'id="yunguan-boot"' not in requests.get(f"{base}/login", timeout=10).text

    cats = requests.get(f"{base}/api/v1/categories", timeout=10).json()
    assert cats and all(c["level"] == level_of(c["code"]) for c in cats)
    assert {c["level"] for c in cats} == {"root", "class", "subclass"}

    make_user("duty", "operator", supervisor=True)
    token = requests.post(f"{base}/api/v1/auth/token", json={"username": "duty", "password": "secret-pass-1"},
                          timeout=10).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    klass = next(c["code"] for c in cats if c["level"] == "class")
    r = requests.post(f"{base}/api/v1/tickets/NOPE20260101-001/actions", headers=headers, timeout=10,
                      json={"action": "register", "version": 1, "category": klass})
    assert r.status_code == 422 and "category" in r.json()["error"]["fields"], r.text
    r = requests.post(f"{base}/api/v1/tickets/NOPE20260101-001/actions", headers=headers, timeout=10,
                      json={"action": "register", "version": 1, "category": "020102"})
    assert r.status_code == 404, r.text  # the code passed; only the ticket is missing


def test_the_embedding_cannot_close_the_script_element(server):
    from web.assets import boot_json

    _, app = server
    with app.test_request_context("/track"):
        hostile = "</script><script>alert(1)</script>&'"
        tag = str(boot_json("track", q=hostile))
    body = EMBEDDED.findall(tag)[0]
    assert "<" not in body and ">" not in body and "&" not in body
    doc = json.loads(body)
    assert doc["extra"]["q"] == hostile
    assert doc["vocabulary"] == json.loads(json.dumps(vocabulary.document()))

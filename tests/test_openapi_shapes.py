"""The OpenAPI document types the answers in depth (a ticket's assignee, area, location and history; the
evaluation's counts and rates by name), and real answers match it. The fuzzer checks every answer against the
document too, but on a database where lists are mostly empty; here a day of simulated traffic through the
whole loop fills them, and each answer is validated against the document's own schema for it."""
from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest
import requests
from sqlalchemy import text

from yunguan.history_sim import HistoryRun, simulate_history

pytestmark = pytest.mark.integration

END = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def _validator(document: dict, path: str):
    schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def test_answers_with_data_match_the_documents_schemas_in_depth(deps, server, make_user):
    base, _ = server
    simulate_history(deps.engine, deps.settings, deps.topics, HistoryRun(1, 11, 60, end=END))
    make_user("shape-ops", "operator", supervisor=True)
    token = requests.post(f"{base}/api/v1/auth/token", json={"username": "shape-ops", "password": "secret-pass-1"},
                          timeout=10).json()["token"]
    staff = {"Authorization": f"Bearer {token}"}
    document = requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()

    # The depth this test is about: nested objects are typed, the evaluation's names are the domain's.
    components = document["components"]["schemas"]
    assert components["TicketSummary"]["properties"]["assignee"]
    assert set(components["EvaluationCounts"]["required"]) >= {"dispatched", "handled_on_time", "closed"}
    assert "on_time_rate" in components["EvaluationRates"]["properties"]

    with deps.engine.connect() as conn:
        no, unit = conn.execute(text(
            "SELECT t.ticket_no, t.assignee_code FROM tickets t "
            "WHERE t.location IS NOT NULL AND t.assignee_code IS NOT NULL AND EXISTS (SELECT 1 FROM ticket_history h "
            "WHERE h.ticket_id = t.id AND h.data IS NOT NULL) ORDER BY t.id LIMIT 1")).one()
        lon, lat = conn.execute(text(  # near an open ticket: the duplicate hints list open ones only
            "SELECT ST_X(location), ST_Y(location) FROM tickets WHERE location IS NOT NULL "
            "AND status NOT IN ('closed', 'rejected', 'merged') ORDER BY id LIMIT 1")).one()
    period = {"from": "2026-11-01", "to": "2026-12-01"}
    answers = [
        ("/api/v1/tickets", staff, {"limit": 200}),
        ("/api/v1/tickets/{ticket_no}", staff, None),
        ("/api/v1/tickets/{ticket_no}", {}, None),  # the public view
        ("/api/v1/tickets/nearby", staff, {"lon": lon, "lat": lat, "radius_m": 2000}),
        ("/api/v1/evaluation", staff, {"by": "unit", **period}),
        ("/api/v1/evaluation/cases", staff, {"by": "unit", "key": unit, "count": "dispatched", **period}),
    ]
    checked = {}
    for path, headers, params in answers:
        r = requests.get(base + path.replace("{ticket_no}", no), headers=headers, params=params, timeout=30)
        assert r.status_code == 200, (path, r.text)
        body = r.json()
        errors = sorted(_validator(document, path).iter_errors(body), key=lambda e: list(e.path))
        assert not errors, (path, [f"{list(e.path)}: {e.message}" for e in errors[:5]])
        checked[path + (" (public)" if not headers else "")] = body
    assert len(checked["/api/v1/tickets"]["items"]) > 20, "too few tickets to check anything in depth"
    full = checked["/api/v1/tickets/{ticket_no}"]
    assert full["assignee"]["code"] == unit and full["history"] and full["reports"]
    assert "actor" not in str(checked["/api/v1/tickets/{ticket_no} (public)"]["history"][0])
    assert checked["/api/v1/tickets/nearby"]["items"] and checked["/api/v1/evaluation/cases"]["items"]
    assert any(row["rank"] for row in checked["/api/v1/evaluation"]["rows"])

    # The check can fail: a ticket whose assignee is not an object is refused by the same schema.
    broken = {**checked["/api/v1/tickets"], "items": [{**checked["/api/v1/tickets"]["items"][0], "assignee": "x"}]}
    assert list(_validator(document, "/api/v1/tickets").iter_errors(broken))

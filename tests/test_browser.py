"""Helpers of the browser tests (tests/test_page_*.py): reports sent over the API and their ticket numbers."""
from __future__ import annotations

import uuid

import pytest
import requests

pytestmark = pytest.mark.integration

NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}


def _report(base: str, **fields) -> str:
    report_id = f"b-{uuid.uuid4().hex[:12]}"
    body = {"report_id": report_id, "category": "020102", "location": NANGUAN, **fields}
    r = requests.post(f"{base}/api/v1/reports", json=body, timeout=10)
    assert r.status_code == 202, r.text
    return report_id


def _ticket_no(base: str, report_id: str, channel: str = "public") -> str:
    from tests.helpers import wait_for

    return wait_for(lambda: (requests.get(f"{base}/api/v1/reports/{channel}/{report_id}", timeout=5).json()
                             .get("ticket_no")), what="the ticket number")

"""Notification deliveries over HTTP (`GET /api/v1/deliveries`, operators and admin): what `yunguan notify`
sent, is sending and gave up on, so that a failure is seen in the console and not only in a log.
Registered on web.api's blueprint; thin like it: parse, call one query, render. Addresses never leave: an
e-mail or SMS delivery shows its target masked (z***@example.cn, 139****4321)."""
from __future__ import annotations

from flask import jsonify

from dispatch.vocabulary import Role
from store import deliveries
from web.api import _bool_arg, _deps, _int_arg, bp
from web.auth import require_roles


def _iso(value):
    return value.isoformat() if value is not None else None


@bp.get("/deliveries")
@require_roles(str(Role.ADMIN), str(Role.OPERATOR))
def list_deliveries():
    """A page of deliveries, newest first; `failed=1`: dead ones and pending ones whose last try failed."""
    failed = bool(_bool_arg("failed"))
    limit = _int_arg("limit", 50, 1, 500)
    before = _int_arg("cursor", None, 1, 2**62)
    with _deps().engine.connect() as conn:
        rows = deliveries.list_deliveries(conn, failed=failed, limit=limit + 1, before=before)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{**r, "next_at": _iso(r["next_at"]) if r["state"] == "pending" else None,
              "delivered_at": _iso(r["delivered_at"]), "created_at": _iso(r["created_at"])} for r in rows]
    return jsonify({"items": items, "next_cursor": str(rows[-1]["id"]) if more and rows else None})

"""Notification deliveries over HTTP (`GET /api/v1/deliveries`, operators and admin): what `yunguan notify`
sent, is sending and gave up on, so that a failure is seen in the console and not only in a log.
Registered on web.api's blueprint; thin like it: parse, call one query, render. Addresses never leave: an
e-mail or SMS delivery shows its target masked (z***@example.cn, 139****4321)."""
from __future__ import annotations

from flask import g, jsonify

from dispatch.vocabulary import Role
from store import deliveries
from web import api_models as m
from web.api import _deps, bp
from web.api_models import Error
from web.openapi import documented


def _iso(value):
    return value.isoformat() if value is not None else None


@bp.get("/deliveries")
@documented(tags=["notifications"], roles=(str(Role.ADMIN), str(Role.OPERATOR)), query=m.DeliveriesQuery,
            responses={200: m.DeliveryPage, 400: Error, 401: Error, 403: Error, 503: Error})
def list_deliveries():
    """A page of deliveries, newest first; `failed=1`: dead ones and pending ones whose last try failed."""
    query: m.DeliveriesQuery = g.query
    failed, limit, before = bool(query.failed), query.limit, query.cursor
    with _deps().engine.connect() as conn:
        rows = deliveries.list_deliveries(conn, failed=failed, limit=limit + 1, before=before)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{**r, "next_at": _iso(r["next_at"]) if r["state"] == "pending" else None,
              "delivered_at": _iso(r["delivered_at"]), "created_at": _iso(r["created_at"])} for r in rows]
    return jsonify({"items": items, "next_cursor": str(rows[-1]["id"]) if more and rows else None})

"""The category taxonomy in the database: replaced from a checked table, read back as `dispatch.taxonomy`."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.taxonomy import Category, Kind, Taxonomy, TimeBasis

_UPSERT = text(
    "INSERT INTO categories (code, name, kind, parent, ack_limit_h, handle_limit_h, time_basis, urgent, unit_kind, "
    "register_standard, close_standard, merge_distance_m, merge_window_h) VALUES (:code, :name, :kind, :parent, "
    ":ack_limit_h, :handle_limit_h, :time_basis, :urgent, :unit_kind, :register_standard, :close_standard, "
    ":merge_distance_m, :merge_window_h) ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, "
    "parent = EXCLUDED.parent, ack_limit_h = EXCLUDED.ack_limit_h, handle_limit_h = EXCLUDED.handle_limit_h, "
    "time_basis = EXCLUDED.time_basis, urgent = EXCLUDED.urgent, unit_kind = EXCLUDED.unit_kind, "
    "register_standard = EXCLUDED.register_standard, close_standard = EXCLUDED.close_standard, "
    "merge_distance_m = EXCLUDED.merge_distance_m, merge_window_h = EXCLUDED.merge_window_h"
)


def save_taxonomy(conn: Connection, taxonomy: Taxonomy) -> int:
    """Upsert every category (parents first, as the checked table orders them). Codes no longer in the
    table stay, because tickets refer to them; a city retires a code by renaming it, not by deleting it."""
    rows = [
        {
            "code": c.code, "name": c.name, "kind": str(c.kind), "parent": c.parent, "ack_limit_h": c.ack_limit_h,
            "handle_limit_h": c.handle_limit_h, "time_basis": str(c.time_basis) if c.time_basis else None,
            "urgent": c.urgent, "unit_kind": c.unit_kind, "register_standard": c.register_standard,
            "close_standard": c.close_standard, "merge_distance_m": c.merge_distance_m,
            "merge_window_h": c.merge_window_h,
        }
        for c in taxonomy.categories
    ]
    for row in rows:  # one by one: a child's foreign key needs its parent inserted first
        conn.execute(_UPSERT, row)
    conn.execute(text("SELECT pg_notify('yunguan_areas', 'categories')"))
    return len(rows)


def load_taxonomy(conn: Connection) -> Taxonomy:
    rows = conn.execute(text(
        "SELECT code, name, kind, parent, ack_limit_h, handle_limit_h, time_basis, urgent, unit_kind, "
        "register_standard, close_standard, merge_distance_m, merge_window_h FROM categories ORDER BY length(code), code"
    )).mappings().all()
    categories = []
    for r in rows:
        extra = {k: r[k] for k in ("merge_distance_m", "merge_window_h") if r[k] is not None}
        categories.append(Category(
            code=r["code"], name=r["name"], kind=Kind(r["kind"]), parent=r["parent"], ack_limit_h=r["ack_limit_h"],
            handle_limit_h=r["handle_limit_h"], time_basis=TimeBasis(r["time_basis"]) if r["time_basis"] else None,
            urgent=r["urgent"], unit_kind=r["unit_kind"], register_standard=r["register_standard"],
            close_standard=r["close_standard"], **extra,
        ))
    return Taxonomy(tuple(categories))

"""Alembic environment: the connection comes from store.migrate (never from a global config).

Autogenerate (`alembic check`, tests/test_models_match.py) compares store.models with the database. Objects
that extensions own — PostGIS's spatial_ref_sys, topology's and the tiger geocoder's tables when those are
installed — are not ours and are left out by name; every other table of the schema is compared, so a table
a migration adds and the models lack is reported (the earlier hook hid every table missing from the models).
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import text

from store.models import Base

target_metadata = Base.metadata

# Tables of PostGIS and its companion extensions, in case one is installed into our schema without being
# recorded as an extension member (a restore from a plain dump does that).
EXTENSION_TABLES = frozenset({"spatial_ref_sys", "topology", "layer", "us_gaz", "us_lex", "us_rules"})

_EXTENSION_MEMBERS = text(
    "SELECT c.relname FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass "
    "AND d.objid = c.oid AND d.deptype = 'e' WHERE c.relnamespace = current_schema()::regnamespace "
    # and the day partitions of sensor_readings (0015), made at run time: the model is their parent table
    "UNION SELECT relname FROM pg_class WHERE relispartition AND relnamespace = current_schema()::regnamespace"
)


def _include_name(connection):
    """An include_name hook that skips relations owned by an extension. The extension members are read once,
    when autogenerate first asks (migrations alone never call the hook, so `upgrade` runs no extra query)."""
    members: set[str] | None = None

    def include(name, type_, parent_names):
        nonlocal members
        if type_ != "table":
            return True
        if members is None:
            members = set(connection.execute(_EXTENSION_MEMBERS).scalars())
        return name not in members and name not in EXTENSION_TABLES

    return include


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_include_name(connection),
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()

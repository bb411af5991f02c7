"""Engines and URLs. Nothing here runs at import time: callers pass the settings' database URL."""
from __future__ import annotations

import orjson
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url


def json_dumps(value) -> bytes:
    """JSONB parameters through orjson: the intake worker writes several JSON documents per ticket, and the
    standard library's encoder was a seventh of its CPU. psycopg takes the bytes as they are."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def make_engine(database_url: str, **kwargs) -> Engine:
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("future", True)
    kwargs.setdefault("json_serializer", json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    return create_engine(database_url, **kwargs)


def with_database(database_url: str, name: str) -> str:
    """The same server and credentials, another database (tests, admin connections)."""
    return make_url(database_url).set(database=name).render_as_string(hide_password=False)


def database_name(database_url: str) -> str:
    name = make_url(database_url).database
    if not name:
        raise ValueError(f"database URL {make_url(database_url)!r} names no database")
    return name

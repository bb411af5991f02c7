"""API keys of Open311 clients (migration 0014): made and revoked by the CLI, checked by the web.

A key is 32 random bytes (URL-safe base64 with a `yg_` prefix, so a leaked one is recognisable in a log or a
repository scan); only its SHA-256 is stored, so the table does not hold a usable key. A key is found by its
hash: an equality lookup on a unique index, constant in the number of keys, and a guess learns nothing from
timing but "no such key". The key's channel is the channel of every report posted with it.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.vocabulary import CHANNELS

PREFIX = "yg_"
MAX_NAME = 64
MAX_KEY = 128  # a longer api_key is not one of ours: refused before it is hashed
# Sensors publish to Kafka directly; a key is for programs that speak for people (contract §9).
KEY_CHANNELS: tuple[str, ...] = tuple(c for c in CHANNELS if c != "sensor")


class ApiKeyError(ValueError):
    pass


@dataclass(frozen=True)
class ApiKey:
    name: str
    channel: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def add(conn: Connection, name: str, channel: str = "public") -> tuple[ApiKey, str]:
    """A new key named `name` for `channel`; returns the row and the key (which is stored nowhere)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ApiKeyError(f"a key's name is 1 to {MAX_NAME} printable characters")
    if channel not in KEY_CHANNELS:
        raise ApiKeyError(f"channel {channel!r}: must be one of {', '.join(KEY_CHANNELS)}")
    key = PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(text(
        "INSERT INTO api_keys (name, key_sha256, channel) VALUES (:n, :h, :c) ON CONFLICT (name) DO NOTHING "
        "RETURNING name, channel, created_at, revoked_at"), {"n": name, "h": key_sha256(key), "c": channel}).first()
    if row is None:
        raise ApiKeyError(f"a key named {name!r} exists (revoked keys keep their names); choose another name")
    return ApiKey(row.name, row.channel, row.created_at, row.revoked_at), key


def revoke(conn: Connection, name: str) -> ApiKey:
    """Revoke the key `name` (again: nothing changes, the first revocation time stays)."""
    row = conn.execute(text(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE name = :n "
        "RETURNING name, channel, created_at, revoked_at"), {"n": name}).first()
    if row is None:
        raise ApiKeyError(f"no key named {name!r}")
    return ApiKey(row.name, row.channel, row.created_at, row.revoked_at)


def find(conn: Connection, key: str) -> ApiKey | None:
    """The key's row (revoked or not), or None when no key has this value."""
    if not key or len(key) > MAX_KEY:
        return None
    row = conn.execute(text("SELECT name, channel, created_at, revoked_at FROM api_keys WHERE key_sha256 = :h"),
                       {"h": key_sha256(key)}).first()
    return None if row is None else ApiKey(row.name, row.channel, row.created_at, row.revoked_at)


def list_keys(conn: Connection) -> list[ApiKey]:
    rows = conn.execute(text("SELECT name, channel, created_at, revoked_at FROM api_keys ORDER BY name")).all()
    return [ApiKey(r.name, r.channel, r.created_at, r.revoked_at) for r in rows]

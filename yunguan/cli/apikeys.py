"""`yunguan apikeys`: keys for Open311 GeoReport v2 clients (contract §9).

`add NAME [--channel C]` prints the new key as its last line — the only time it is shown; only its SHA-256 is
stored. `revoke NAME` stops it at once. `list` shows names, channels and states, never keys.
"""
from __future__ import annotations

from config import Settings
from yunguan.cli.common import UsageError, json_line, say


def register(sub) -> None:
    """Add the `apikeys` command group to the top-level subparsers."""
    from store.apikeys import KEY_CHANNELS

    keys = sub.add_parser("apikeys", help="API keys of Open311 clients").add_subparsers(
        dest="apikeys_command", required=True)
    add = keys.add_parser("add", help="make a key; prints it once (only its hash is stored)")
    add.add_argument("name")
    add.add_argument("--channel", default="public", choices=KEY_CHANNELS,
                     help="the channel of the reports posted with this key (default public)")
    add.set_defaults(func=cmd_apikeys_add)
    revoke = keys.add_parser("revoke", help="stop a key at once (its name stays taken)")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_apikeys_revoke)
    keys.add_parser("list", help="names, channels and states as JSON lines (never the keys)").set_defaults(
        func=cmd_apikeys_list)


def _engine(settings: Settings):
    from store.db import make_engine

    return make_engine(settings.database_url)  # the owner: the application role may only read api_keys


def cmd_apikeys_add(settings: Settings, args) -> int:
    from store.apikeys import ApiKeyError, add

    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            row, key = add(conn, args.name, args.channel)
    except ApiKeyError as exc:
        raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    say(f"apikeys: {row.name} (channel {row.channel}); the key is shown only now, store it safely:", err=True)
    say(key)
    return 0


def cmd_apikeys_revoke(settings: Settings, args) -> int:
    from store.apikeys import ApiKeyError, revoke

    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            row = revoke(conn, args.name)
    except ApiKeyError as exc:
        raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    say(f"apikeys: {row.name} revoked at {row.revoked_at.isoformat()}")
    return 0


def cmd_apikeys_list(settings: Settings, args) -> int:
    from store.apikeys import list_keys

    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            rows = list_keys(conn)
    finally:
        engine.dispose()
    for r in rows:
        json_line({"name": r.name, "channel": r.channel, "created_at": r.created_at, "revoked_at": r.revoked_at})
    return 0

"""Accounts: add, enable or disable, second factor, the login record."""
from __future__ import annotations

import getpass
import json
import sys

from config import Settings
from yunguan.cli.common import UsageError, say


def _read_password(args) -> str:
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the passwords differ")
    return password


def cmd_users_add(settings: Settings, args) -> int:
    from sqlalchemy.exc import IntegrityError

    from store.db import make_engine
    from store.users import UserError, add_user

    password = _read_password(args)
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            user = add_user(conn, args.name, password, args.role, args.unit, args.grid, args.supervisor,
                            replace=args.replace)
    except (UserError, IntegrityError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    finally:
        engine.dispose()
    say(json.dumps({"username": user.username, "role": user.role, "unit": user.unit_code, "grid": user.grid_code,
                    "supervisor": user.supervisor}, ensure_ascii=False))
    return 0


def cmd_users_active(settings: Settings, args) -> int:
    from store.db import make_engine
    from store.users import UserError, set_active

    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            user = set_active(conn, args.name, args.active)
    except UserError as exc:
        raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    say(f"users: {user.username} {'enabled' if user.active else 'disabled; its tokens and sockets end'}")
    return 0


def cmd_users_totp(settings: Settings, args) -> int:
    """Enrol (or replace, or remove) an account's TOTP second factor; the secret is printed once, for the
    person to scan into an authenticator app (decision 0011)."""
    from store.db import make_engine
    from store.sealing import Sealer
    from store.users import UserError, enrol_totp, remove_totp

    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            if args.remove:
                remove_totp(conn, args.name)
            else:
                secret, uri = enrol_totp(conn, args.name, Sealer.from_settings(settings))
    except UserError as exc:
        raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    if args.remove:
        say(f"users: {args.name} has no second factor now")
    else:
        say(f"secret: {secret}")
        say(uri)
    return 0


def cmd_users_logins(settings: Settings, args) -> int:
    """The login record, newest first, as JSON lines: who, from where, when, how it ended."""
    from store.db import make_engine
    from store.logins import attempts

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = attempts(conn, args.name, args.limit)
    finally:
        engine.dispose()
    for row in rows:
        say(json.dumps({**row, "at": row["at"].isoformat()}, ensure_ascii=False))
    return 0

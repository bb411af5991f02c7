"""Accounts: created by `yunguan users add` and the demo; passwords stored as werkzeug hashes; an optional
TOTP second factor (RFC 6238, pyotp) whose codes are accepted once each."""
from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import pyotp
from sqlalchemy import text
from sqlalchemy.engine import Connection
from werkzeug.security import check_password_hash, generate_password_hash

from dispatch.vocabulary import ACCOUNT_ROLES
from store.sealing import Sealer, Unopenable

log = logging.getLogger(__name__)


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    unit_code: str | None
    grid_code: str | None
    supervisor: bool
    active: bool
    token_epoch: int = 0


_COLUMNS = "id, username, role, unit_code, grid_code, supervisor, active, token_epoch"


def add_user(
    conn: Connection, username: str, password: str, role: str, unit: str | None = None,
    grid: str | None = None, supervisor: bool = False, replace: bool = False,
) -> User:
    if role not in ACCOUNT_ROLES:
        raise UserError(f"role must be one of {', '.join(ACCOUNT_ROLES)}, got {role!r}")
    if role == "department" and not unit:
        raise UserError("a department account needs --unit CODE")
    if role == "grid" and not grid:
        raise UserError("a grid worker account needs --grid CODE")
    if supervisor and role != "operator":
        raise UserError("--supervisor marks an operator as 值班长; it needs --role operator")
    if len(password) < 8:
        raise UserError("password must have at least 8 characters")
    if unit and conn.execute(text("SELECT 1 FROM units WHERE code = :c"), {"c": unit}).first() is None:
        raise UserError(f"unit {unit!r} does not exist; load units first (yunguan demo --data-only or duties load)")
    if grid and conn.execute(text("SELECT 1 FROM areas WHERE code = :c AND level = 'grid'"), {"c": grid}).first() is None:
        raise UserError(f"grid cell {grid!r} does not exist; load grid areas first")
    params = {
        "u": username, "h": generate_password_hash(password), "r": role, "unit": unit, "grid": grid,
        "sup": supervisor,
    }
    conflict = (
        "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, "
        "unit_code = EXCLUDED.unit_code, grid_code = EXCLUDED.grid_code, supervisor = EXCLUDED.supervisor, "
        "active = true, token_epoch = users.token_epoch + 1" if replace else ""
    )
    row = conn.execute(
        text(
            "INSERT INTO users (username, password_hash, role, unit_code, grid_code, supervisor) "
            f"VALUES (:u, :h, :r, :unit, :grid, :sup) {conflict} RETURNING {_COLUMNS}"
        ),
        params,
    ).first()
    if row is None:
        raise UserError(f"user {username!r} exists")
    return User(*row)


@cache
def _dummy_hash() -> str:
    """A hash to check unknown names against, made like every real one (same method and cost), so that an
    unknown username costs the same time as a known one with a wrong password."""
    return generate_password_hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Checked:
    """A password check: the account (None for an unknown name), whether the password matched, and
    whether the account has a second factor enrolled."""

    user: User | None
    password_ok: bool
    totp_enrolled: bool


def check_password(conn: Connection, username: str, password: str) -> Checked:
    """Always hashes once, whatever the name: unknown, disabled and wrong take the same time."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS}, password_hash, totp_secret IS NOT NULL FROM users WHERE username = :u"),
        {"u": username},
    ).first()
    ok = check_password_hash(row.password_hash if row else _dummy_hash(), password)
    if row is None:
        return Checked(None, False, False)
    return Checked(User(*row[:-2]), ok, bool(row[-1]))


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    """The active account with this password, or None (no throttle, no record: see store.logins)."""
    checked = check_password(conn, username, password)
    return checked.user if checked.password_ok and checked.user.active else None


TOTP_ISSUER = "Yunguan"


def enrol_totp(conn: Connection, username: str, sealer: Sealer) -> tuple[str, str]:
    """A new TOTP secret for the account (replacing any earlier one): (base32 secret, otpauth:// URI). The
    secret is stored sealed (store.sealing); this return is the only time it is seen in clear."""
    secret = pyotp.random_base32()
    row = conn.execute(text("UPDATE users SET totp_secret = :s, totp_last_step = NULL WHERE username = :u "
                            "RETURNING id"), {"s": sealer.seal(secret), "u": username}).first()
    if row is None:
        raise UserError(f"no user {username!r}")
    return secret, pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def remove_totp(conn: Connection, username: str) -> None:
    if conn.execute(text("UPDATE users SET totp_secret = NULL, totp_last_step = NULL WHERE username = :u "
                         "RETURNING id"), {"u": username}).first() is None:
        raise UserError(f"no user {username!r}")


def use_totp_code(conn: Connection, user_id: int, code: str, now: datetime, sealer: Sealer) -> bool:
    """True when `code` is the account's code for the current 30-second step or one step either side
    (clock drift) and no code of that step or a later one was accepted before: each code works once. A
    secret that no configured key opens accepts no code (and says why in the log); one stored in clear or
    under an older key is sealed under the current key once a code is accepted."""
    row = conn.execute(text("SELECT username, totp_secret FROM users WHERE id = :i"), {"i": user_id}).first()
    if row is None or row.totp_secret is None or len(code) != 6 or not code.isascii() or not code.isdigit():
        return False
    try:
        secret = sealer.open(row.totp_secret)
    except Unopenable:
        log.error("the TOTP secret of %s opens with no configured totp_key (was secret_key or totp_key changed "
                  "without keeping the old one?): enrol it again with `yunguan users totp %s`",
                  row.username, row.username)
        return False
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // totp.interval
    matched = [s for s in (step - 1, step, step + 1) if hmac.compare_digest(totp.generate_otp(s), code)]
    if not matched:
        return False
    used = conn.execute(text(
        "UPDATE users SET totp_last_step = :s WHERE id = :i AND (totp_last_step IS NULL OR totp_last_step < :s) "
        "RETURNING id"), {"s": matched[0], "i": user_id}).first()
    if used is not None and not sealer.is_current(row.totp_secret):
        conn.execute(text("UPDATE users SET totp_secret = :s WHERE id = :i AND totp_secret = :old"),
                     {"s": sealer.seal(secret), "i": user_id, "old": row.totp_secret})
    return used is not None


def get_user(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM users WHERE id = :i"), {"i": user_id}).first()
    return User(*row) if row else None


def revoke_tokens(conn: Connection, user_id: int) -> None:
    """End every token and console socket of this account (logout everywhere)."""
    conn.execute(text("UPDATE users SET token_epoch = token_epoch + 1 WHERE id = :i"), {"i": user_id})


def set_active(conn: Connection, username: str, active: bool) -> User:
    row = conn.execute(text(
        f"UPDATE users SET active = :a, token_epoch = token_epoch + 1 WHERE username = :u RETURNING {_COLUMNS}"),
        {"a": active, "u": username}).first()
    if row is None:
        raise UserError(f"no user {username!r}")
    return User(*row)


def sessions_of(conn: Connection, user_ids: list[int]) -> dict[int, User]:
    """The current accounts behind open sockets, in one query (the sweep's check)."""
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM users WHERE id = ANY(:ids)"), {"ids": user_ids}).all()
    return {row.id: User(*row) for row in rows}

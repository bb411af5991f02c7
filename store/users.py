"""Accounts: created by `yunguan users add` and the demo; passwords stored as werkzeug hashes."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from werkzeug.security import check_password_hash, generate_password_hash

ROLES = ("admin", "operator", "department", "grid", "hotline")


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
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
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


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    row = conn.execute(
        text(f"SELECT {_COLUMNS}, password_hash FROM users WHERE username = :u"), {"u": username}
    ).first()
    if row is None or not row.active or not check_password_hash(row.password_hash, password):
        return None
    return User(*row[:-1])


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

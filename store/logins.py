"""Logins as a use case: throttle, check the password and the second factor, and record every attempt.

Every attempt, API or page, lands in `login_attempts` (who as typed, the account if any, from where, when,
how it ended). The throttle counts failures in that table, so it holds across web processes and restarts:
an account whose failures from this address since its last success reach `max_account_failures` within the
window, an address with `max_address_failures` failures (successes do not reset it: an attacker could own an
account), or an account with `max_account_total_failures` failures from all addresses (guessing spread over
many) unless this address logged in to it within `known_address_days`, is refused with the seconds until the
oldest counted failure leaves the window, even with the right password. Counting an account's failures per
address means five wrong guesses from anywhere no longer lock the owner out of every computer (OWASP's
advice against lockout as denial of service); the account-wide limit still stops a distributed guess. Refused attempts are recorded as `throttled` but not counted, so the lock ends when the window
passes. Attempts on one name and from one address are serialised with transaction-scoped advisory locks,
so parallel guesses cannot all pass the check before any failure is written (decision 0011).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from store.locks import LOGIN_ACCOUNT_LOCK, LOGIN_ADDRESS_LOCK
from store.sealing import Sealer
from store.users import User, check_password, use_totp_code

# What counts against the limits; `otp_required` (the password was right, the code is the next step),
# `otp_not_enrolled` and `throttled` do not.
FAILURES = ("unknown_user", "bad_password", "disabled", "bad_otp")


@dataclass(frozen=True)
class LoginPolicy:
    window_s: int
    max_account_failures: int
    max_address_failures: int
    require_2fa_roles: frozenset[str]
    max_account_total_failures: int = 50
    known_address_days: int = 30
    sealer: Sealer | None = None  # opens the TOTP secrets (store.sealing); from_settings always sets it

    @classmethod
    def from_settings(cls, settings) -> LoginPolicy:
        roles = frozenset(r.strip() for r in settings.require_2fa_roles.split(",") if r.strip())
        return cls(settings.login_window_s, settings.login_max_account_failures,
                   settings.login_max_address_failures, roles, settings.login_max_account_total_failures,
                   settings.login_known_address_days, Sealer.from_settings(settings))


@dataclass(frozen=True)
class Where:
    """The client address (after the configured proxies) and the door: "api" or "page"."""

    address: str
    via: str


@dataclass(frozen=True)
class LoginResult:
    outcome: str  # "ok" or one of the refusals recorded in login_attempts.outcome
    user: User | None = None
    retry_after_s: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def log_in(conn: Connection, username: str, password: str, otp: str | None, where: Where, now: datetime,
           policy: LoginPolicy) -> LoginResult:
    """One attempt with name, password and (when the account needs one) a TOTP code; run it in its own
    transaction, which commits the record whatever the outcome."""
    _lock(conn, username, where.address)
    wait = _throttled_for(conn, username, where.address, now, policy)
    if wait:
        return _record(conn, LoginResult("throttled", retry_after_s=wait), username, where, now)
    checked = check_password(conn, username, password)
    user = checked.user
    if user is None:
        return _record(conn, LoginResult("unknown_user"), username, where, now)
    if not checked.password_ok:
        return _record(conn, LoginResult("bad_password", user), username, where, now)
    if not user.active:
        return _record(conn, LoginResult("disabled", user), username, where, now)
    if checked.totp_enrolled or user.role in policy.require_2fa_roles:
        return log_in_with_code(conn, user, otp, where, now, policy, enrolled=checked.totp_enrolled, locked=True)
    return _record(conn, LoginResult("ok", user), username, where, now)


def log_in_with_code(conn: Connection, user: User, otp: str | None, where: Where, now: datetime,
                     policy: LoginPolicy, *, enrolled: bool = True, locked: bool = False) -> LoginResult:
    """The second step for an account whose password was already checked (the login page's code form)."""
    if not locked:
        _lock(conn, user.username, where.address)
        wait = _throttled_for(conn, user.username, where.address, now, policy)
        if wait:
            return _record(conn, LoginResult("throttled", user, wait), user.username, where, now)
    if not enrolled:
        outcome = "otp_not_enrolled"
    elif not otp:
        outcome = "otp_required"
    else:
        if policy.sealer is None:
            raise ValueError("a login policy without a sealer cannot check TOTP codes (LoginPolicy.from_settings)")
        outcome = "ok" if use_totp_code(conn, user.id, otp, now, policy.sealer) else "bad_otp"
    return _record(conn, LoginResult(outcome, user), user.username, where, now)


def totp_enrolled(conn: Connection, user_id: int) -> bool:
    return bool(conn.execute(text("SELECT totp_secret IS NOT NULL FROM users WHERE id = :i"), {"i": user_id}).scalar())


def attempts(conn: Connection, username: str | None = None, limit: int = 100) -> list[dict]:
    """The record, newest first (for operators and tests)."""
    rows = conn.execute(text(
        "SELECT at, username, user_id, address, via, outcome FROM login_attempts "
        "WHERE CAST(:u AS text) IS NULL OR username = :u ORDER BY id DESC LIMIT :n"), {"u": username, "n": limit})
    return [dict(row._mapping) for row in rows]


def _lock(conn: Connection, username: str, address: str) -> None:
    # Always the account first, then the address: no two attempts wait on each other in a cycle.
    conn.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:k))"), {"ns": LOGIN_ACCOUNT_LOCK, "k": username})
    conn.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:k))"), {"ns": LOGIN_ADDRESS_LOCK, "k": address})


def _throttled_for(conn: Connection, username: str, address: str, now: datetime, policy: LoginPolicy) -> int:
    """Seconds until an attempt is allowed again (0: now): when the failure that makes the count reach the
    limit leaves the window."""
    since = now - timedelta(seconds=policy.window_s)
    params = {"u": username, "a": address, "since": since, "failures": list(FAILURES)}
    after_success = ("AND at > COALESCE((SELECT max(at) FROM login_attempts WHERE username = :u AND outcome = 'ok'), "
                     "'-infinity') ")
    account = conn.execute(text(
        "SELECT at FROM login_attempts WHERE username = :u AND address = :a AND outcome = ANY(:failures) "
        "AND at > :since " + after_success + "ORDER BY at DESC OFFSET :n LIMIT 1"),
        {**params, "n": policy.max_account_failures - 1}).scalar()
    known = conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM login_attempts WHERE username = :u AND address = :a AND outcome = 'ok' "
        "AND at > :known)"), {**params, "known": now - timedelta(days=policy.known_address_days)}).scalar()
    spread = None if known else conn.execute(text(
        "SELECT at FROM login_attempts WHERE username = :u AND outcome = ANY(:failures) AND at > :since "
        + after_success + "ORDER BY at DESC OFFSET :n LIMIT 1"),
        {**params, "n": policy.max_account_total_failures - 1}).scalar()
    address_at = conn.execute(text(
        "SELECT at FROM login_attempts WHERE address = :a AND outcome = ANY(:failures) AND at > :since "
        "ORDER BY at DESC OFFSET :n LIMIT 1"), {**params, "n": policy.max_address_failures - 1}).scalar()
    until = max((at + timedelta(seconds=policy.window_s) for at in (account, spread, address_at) if at is not None),
                default=None)
    return max(1, math.ceil((until - now).total_seconds())) if until is not None else 0


def _record(conn: Connection, result: LoginResult, username: str, where: Where, now: datetime) -> LoginResult:
    """One row of the record; the account is named even when the attempt was refused before its check."""
    conn.execute(text(
        "INSERT INTO login_attempts (at, username, user_id, address, via, outcome) "
        "SELECT :at, :u, COALESCE(CAST(:i AS integer), (SELECT id FROM users WHERE username = :name)), :a, :v, :o"),
        {"at": now, "u": username, "name": username, "i": result.user.id if result.user else None,
         "a": where.address[:64], "v": where.via, "o": result.outcome})
    return result

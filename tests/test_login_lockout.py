"""Wrong guesses from one address lock the account for that address only; guessing spread over many addresses
locks it everywhere except where its owner logged in lately (store.logins, decision 0011's amendment)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store import logins

PASSWORD = "secret-pass-1"
POLICY = logins.LoginPolicy(window_s=900, max_account_failures=5, max_address_failures=20,
                            require_2fa_roles=frozenset(), max_account_total_failures=12, known_address_days=30)


def _try(engine, username: str, password: str, address: str, now: datetime) -> logins.LoginResult:
    with engine.begin() as conn:
        return logins.log_in(conn, username, password, None, logins.Where(address, "api"), now, POLICY)


def test_a_strangers_guesses_do_not_lock_the_owner_out(clean_db, make_user):
    engine = clean_db
    make_user("duty", "operator")
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert _try(engine, "duty", PASSWORD, "10.0.0.1", now).ok  # the owner's office computer

    outcomes = [_try(engine, "duty", f"guess-{i}", "203.0.113.9", now + timedelta(seconds=1 + i)).outcome
                for i in range(8)]
    assert outcomes == ["bad_password"] * 5 + ["throttled"] * 3  # the stranger's address is locked out …
    late = now + timedelta(seconds=20)
    assert _try(engine, "duty", PASSWORD, "203.0.113.9", late).outcome == "throttled"  # … even with the password
    assert _try(engine, "duty", PASSWORD, "10.0.0.1", late).ok  # the owner is not
    assert _try(engine, "duty", PASSWORD, "198.51.100.7", late).ok  # nor a new computer, below the spread limit


def test_guessing_spread_over_many_addresses_locks_the_account_except_where_its_owner_works(clean_db, make_user):
    engine = clean_db
    make_user("duty", "operator")
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert _try(engine, "duty", PASSWORD, "10.0.0.1", now - timedelta(days=3)).ok  # known for 30 days

    for i in range(12):  # three guesses each from four addresses: no address reaches its own limit
        assert _try(engine, "duty", f"guess-{i}", f"203.0.113.{i % 4}", now + timedelta(seconds=i)).outcome \
            == "bad_password"
    late = now + timedelta(seconds=30)
    fresh = _try(engine, "duty", PASSWORD, "198.51.100.7", late)
    assert fresh.outcome == "throttled" and 0 < fresh.retry_after_s <= 900  # an unknown computer must wait
    assert _try(engine, "duty", PASSWORD, "10.0.0.1", late).ok  # the office computer still logs in

    # A known address older than `known_address_days` is a stranger again.
    much_later = now + timedelta(days=40)
    for i in range(12):
        _try(engine, "duty", f"again-{i}", f"203.0.113.{i % 4}", much_later + timedelta(seconds=i))
    assert _try(engine, "duty", PASSWORD, "10.0.0.1", much_later + timedelta(seconds=30)).outcome == "throttled"

"""TOTP secrets at rest (store.sealing): a copy of the users table holds no second factor in clear; the keys
rotate without locking anyone out; a key that was changed without keeping the old one locks out only the
second factor, says so, and answers no 5xx."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

import pyotp
import pytest
from sqlalchemy import text

from store.sealing import PREFIX, Sealer, Unopenable, reseal_totp
from store.users import enrol_totp, use_totp_code


def test_seal_open_and_rotation_by_a_list_of_keys():
    old, new = Sealer(("old key",)), Sealer(("new key", "old key"))
    sealed = old.seal("JBSWY3DPEHPK3PXP")
    assert sealed.startswith(PREFIX) and "JBSWY3DPEHPK3PXP" not in sealed
    assert old.seal("JBSWY3DPEHPK3PXP") != sealed, "each seal is fresh (random IV)"
    assert old.open(sealed) == new.open(sealed) == "JBSWY3DPEHPK3PXP"
    assert old.is_current(sealed) and not new.is_current(sealed)
    assert new.is_current(new.seal("x")) and old.open("JBSWY3DPEHPK3PXP") == "JBSWY3DPEHPK3PXP"  # legacy clear
    with pytest.raises(Unopenable):
        Sealer(("another key",)).open(sealed)
    with pytest.raises(Unopenable):
        old.open(PREFIX + "not-a-token")
    with pytest.raises(ValueError):
        Sealer(())


def test_the_key_comes_from_totp_key_then_secret_key_then_a_file(settings, tmp_path):
    from config import load_settings

    assert Sealer.from_settings(replace(settings, totp_key="a, b")).keys == ("a", "b")
    derived = load_settings({}, secret_key="s3cret", totp_key="")
    assert derived.totp_key == "s3cret"
    keyless = replace(settings, totp_key="", state_dir=str(tmp_path))
    first = Sealer.from_settings(keyless)
    assert first == Sealer.from_settings(keyless), "the key file is made once and read after"
    assert (tmp_path / "totp" / "key").stat().st_mode & 0o777 == 0o600


@pytest.mark.integration
def test_secrets_are_sealed_legacy_ones_too_and_a_rotation_keeps_every_second_factor(clean_db, make_user,
                                                                                   caplog):
    engine = clean_db
    for name in ("a1", "a2", "legacy", "lost"):
        make_user(name, "admin")
    old, new = Sealer(("old",)), Sealer(("new", "old"))

    def stored(name: str) -> str:
        with engine.connect() as conn:
            return conn.execute(text("SELECT totp_secret FROM users WHERE username = :u"), {"u": name}).scalar()

    def uid(name: str) -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT id FROM users WHERE username = :u"), {"u": name}).scalar()

    def accepts(name: str, secret: str, sealer: Sealer, at: datetime) -> bool:
        with engine.begin() as conn:
            return use_totp_code(conn, uid(name), pyotp.TOTP(secret).at(at), at, sealer)

    with engine.begin() as conn:
        secrets = {n: enrol_totp(conn, n, old)[0] for n in ("a1", "a2")}
        conn.execute(text("UPDATE users SET totp_secret = :s WHERE username = 'legacy'"),
                     {"s": (legacy := pyotp.random_base32())})  # as stored before migration 0020
        conn.execute(text("UPDATE users SET totp_secret = :s WHERE username = 'lost'"),
                     {"s": Sealer(("a key nobody has",)).seal(pyotp.random_base32())})
    assert all(secrets[n] not in stored(n) and stored(n).startswith(PREFIX) for n in secrets)

    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert accepts("a1", secrets["a1"], old, t0)
    assert accepts("legacy", legacy, old, t0), "a secret stored in clear still works …"
    assert old.is_current(stored("legacy")) and legacy not in stored("legacy"), "… and is sealed once used"

    # Rotation: the new key first, the old one kept; `yunguan up` reseals (reseal_totp).
    with engine.begin() as conn:
        assert reseal_totp(conn, new) == {"sealed": 3, "unopenable": 1}
    assert all(new.is_current(stored(n)) for n in ("a1", "a2", "legacy"))
    t1 = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    assert accepts("a2", secrets["a2"], Sealer(("new",)), t1), "after resealing, the old key can be dropped"

    # A key changed without keeping the old one: no code is accepted, the log says what to do, nothing raises.
    with caplog.at_level(logging.ERROR, logger="store.users"):
        assert not accepts("a1", secrets["a1"], Sealer(("unrelated",)), t1)
    assert "yunguan users totp a1" in caplog.text
    assert not accepts("lost", pyotp.random_base32(), new, t1)


@pytest.mark.integration
def test_yunguan_db_upgrade_seals_what_was_stored_in_clear(settings, clean_db, make_user):
    import subprocess
    import sys

    from tests.helpers import worker_env

    make_user("old-admin", "admin")
    secret = pyotp.random_base32()
    with clean_db.begin() as conn:
        conn.execute(text("UPDATE users SET totp_secret = :s WHERE username = 'old-admin'"), {"s": secret})
    done = subprocess.run([sys.executable, "-m", "yunguan.cli", "db", "upgrade"], env=worker_env(settings),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 TOTP secret(s) sealed" in done.stdout, done.stdout
    with clean_db.connect() as conn:
        stored = conn.execute(text("SELECT totp_secret FROM users WHERE username = 'old-admin'")).scalar()
    assert stored.startswith(PREFIX) and Sealer.from_settings(settings).open(stored) == secret


def test_the_demos_processes_open_what_the_command_line_sealed(tmp_path):
    """`yunguan demo` gives its processes a random secret key per run; the TOTP and audit keys they get are
    the configuration's own, so a secret sealed by `yunguan users totp` (same configuration, no secret key)
    opens in them, before and after a restart of the demo."""
    from config import load_settings
    from store.audit import checkpoint_key
    from yunguan.cli.setup import demo_child_env

    environ = {"YUNGUAN_STATE_DIR": str(tmp_path)}
    cli = load_settings(environ, secret_key="", totp_key="", audit_key="")
    sealed = Sealer.from_settings(cli).seal("JBSWY3DPEHPK3PXP")
    for _run in range(2):
        env = demo_child_env(cli, environ)
        child = load_settings({k: v for k, v in env.items() if k.startswith("YUNGUAN_")})
        assert child.secret_key and child.secret_key != cli.secret_key
        assert Sealer.from_settings(child).open(sealed) == "JBSWY3DPEHPK3PXP"
        assert checkpoint_key(child) == checkpoint_key(cli, create=False) != b""

"""Secrets the platform must read back, sealed at rest: today the TOTP secrets of staff accounts.

A TOTP secret is a password the server must keep readable (it computes the expected code from it), so it
cannot be hashed; stored in clear, a copy of the database (a backup, a replica, a dump handed to a vendor)
would be every second factor. Each one is sealed with Fernet (AES-128-CBC + HMAC-SHA256, from the
`cryptography` library) under `totp_key`: a comma-separated list whose first key seals and every key opens,
so a key is rotated by putting the new one first and running `yunguan up` (which reseals every secret with
it, `reseal_totp`) before the old one is dropped. Unset, it is `secret_key` (so changing secret_key needs
`totp_key = NEW,OLD` and a `yunguan up` first: docs/operations.md); when that is unset too, a random key is
kept in <state_dir>/totp/key (one machine's demo), as the audit key is.

Stored form: `f1:` + the Fernet token. A secret stored before sealing existed is read as it is, and sealed
by the next `yunguan up` or the next code it accepts.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import text
from sqlalchemy.engine import Connection

from store.keyfile import state_key

log = logging.getLogger(__name__)

PREFIX = "f1:"


class Unopenable(Exception):
    """A sealed secret that none of the configured keys opens (the key was changed without rotating)."""


def _fernet(key: str) -> Fernet:
    # Any string is a key (a configured key need not be Fernet-formatted): an HMAC of it, domain-separated,
    # is Fernet's 32 bytes — so secret_key itself can be a key without its other uses' keys being this one.
    return Fernet(base64.urlsafe_b64encode(hmac.new(key.encode(), b"yunguan totp secrets", hashlib.sha256).digest()))


@dataclass(frozen=True)
class Sealer:
    keys: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.keys or not all(self.keys):
            raise ValueError("a sealer needs at least one non-empty key")

    @property
    def _all(self) -> MultiFernet:
        return MultiFernet([_fernet(k) for k in self.keys])

    def seal(self, plain: str) -> str:
        return PREFIX + _fernet(self.keys[0]).encrypt(plain.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        """The secret; a value stored before sealing comes back as it is. Raises Unopenable."""
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._all.decrypt(stored[len(PREFIX):].encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise Unopenable("no configured totp_key opens this secret") from exc

    def is_current(self, stored: str) -> bool:
        """Sealed under the first key (nothing to reseal)."""
        if not stored.startswith(PREFIX):
            return False
        try:
            _fernet(self.keys[0]).decrypt(stored[len(PREFIX):].encode("ascii"))
            return True
        except (InvalidToken, UnicodeError):
            return False

    @classmethod
    def from_settings(cls, settings) -> Sealer:
        keys = tuple(k.strip() for k in settings.totp_key.split(",") if k.strip())
        return cls(keys or (state_key(settings.state_path / "totp" / "key"),))


def reseal_totp(conn: Connection, sealer: Sealer) -> dict[str, int]:
    """Seal every TOTP secret stored in clear or under an older key with the first key. Secrets no key
    opens are left as they are and counted (their owners must enrol again: `yunguan users totp NAME`)."""
    done = {"sealed": 0, "unopenable": 0}
    rows = conn.execute(text("SELECT id, username, totp_secret FROM users WHERE totp_secret IS NOT NULL "
                             "ORDER BY id FOR UPDATE")).all()
    for row in rows:
        if sealer.is_current(row.totp_secret):
            continue
        try:
            plain = sealer.open(row.totp_secret)
        except Unopenable:
            done["unopenable"] += 1
            log.error("the TOTP secret of %s opens with no configured totp_key: enrol it again "
                      "(`yunguan users totp %s`)", row.username, row.username)
            continue
        conn.execute(text("UPDATE users SET totp_secret = :s WHERE id = :i"),
                     {"s": sealer.seal(plain), "i": row.id})
        done["sealed"] += 1
    return done

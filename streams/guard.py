"""Noticing a wedged consumer group from inside its members, and recovering it (streams.groups).

Every long-running consumer of Yunguan — the intake worker, `yunguan lifeline`, `yunguan notify` — is a member
of a Kafka group of its own and beats (streams.progress). On Tansu a group can stop forming for ever
(streams.groups); its members then poll with no partitions, and their heartbeats say so. The guard turns that
into action: when this member has had no partition for `stuck_after_s` and no other live member of the same
group owns one, one member (a transaction-scoped advisory lock per group) deletes and re-creates the group with
its committed offsets kept, at most once per 2 x `stuck_after_s`. Judged once per heartbeat.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from store import heartbeats
from store.locks import GROUP_RECOVERY_LOCK
from streams.groups import recover_group
from streams.metrics import GROUP_RECOVERIES
from streams.progress import Progress

log = logging.getLogger(__name__)


@dataclass
class GroupGuard:
    engine: Engine
    bootstrap: str
    group: str
    enabled: bool = True  # settings.group_recovery
    _recovered_at: float | None = None
    recoveries: int = 0

    def check(self, p: Progress) -> bool:
        """Recover the group if it is wedged and this member is the one to do it; True when it did."""
        if not self.enabled or p.assigned or not p.stuck_reason:
            return False
        if self._recovered_at is not None and time.monotonic() - self._recovered_at < 2 * p.stuck_after_s:
            return False
        now = datetime.now(UTC)
        silent = timedelta(seconds=max(p.stuck_after_s, 3 * p.heartbeat_s))
        try:
            with self.engine.begin() as conn:
                others = [b for b in heartbeats.live(heartbeats.recent(conn, self.group, now), now, silent)
                          if b.worker_id != p.worker_id]
                if any(b.partitions for b in others):
                    return False  # some member owns partitions: the group works; this one is a spare
                if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k, hashtext(:g))"),
                                    {"k": GROUP_RECOVERY_LOCK, "g": self.group}).scalar():
                    return False
                self._recovered_at = time.monotonic()
                log.error("consumer group %s has not formed for %s: recovering it (offsets kept)",
                          self.group, p.stuck_reason)
                try:
                    recover_group(self.bootstrap, self.group)
                except Exception as exc:  # noqa: BLE001 - reported; the member stays up and says it is stuck
                    log.error("group recovery failed: %s", exc)
                    return False
        except SQLAlchemyError as exc:  # the database away: the heartbeat that follows says so
            log.warning("could not judge whether group %s is wedged: %s", self.group, str(exc).splitlines()[0])
            return False
        GROUP_RECOVERIES.inc()
        self.recoveries += 1
        p.changed_mono = time.monotonic()  # give the new group time to form before judging again
        return True

"""The way out of a consumer group that never forms again, keeping its committed offsets.

Tansu (the bundled broker) removes a member that leaves while the group is still forming, yet keeps it as the
group's leader and accepts a partition plan only from the leader: the group never forms again and every worker
polls with no partitions, for ever. A broker restart cures it but loses the memory broker's data. Deleting the
group cures it too: its members' next heartbeat finds no such member and they join a new group. Deleting also
drops the committed offsets, so they are read first and committed back at once (by a client that is not a
member, as tools that reset offsets do): the new group starts where the old one stopped, with no replay.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from streams.topics import _Admin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovered:
    group: str
    offsets: dict[tuple[str, int], int]  # committed offsets kept across the deletion


class RecoveryFailed(RuntimeError):
    pass


def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    admin = _Admin(bootstrap_servers=bootstrap)
    try:
        found = admin.list_group_offsets(group).get(group) or {}
    finally:
        admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in found.items() if meta.offset >= 0}


def recover_group(bootstrap: str, group: str) -> Recovered:
    """Save the group's committed offsets, delete the group, commit the offsets back; raise RecoveryFailed
    (with the offsets in the message, so a person can restore them) if a step fails."""
    offsets = committed_offsets(bootstrap, group)
    admin = _Admin(bootstrap_servers=bootstrap)
    try:
        result = admin.delete_groups([group])
    finally:
        admin.close()
    outcome = result.get(group) if isinstance(result, dict) else result
    if outcome not in (None, "OK") and "OK" not in str(outcome):
        raise RecoveryFailed(f"deleting group {group} failed: {outcome}; its offsets were {offsets}")
    if offsets:
        committer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            done = committer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                    asynchronous=False)
        except Exception as exc:
            raise RecoveryFailed(f"group {group} was deleted but committing its offsets back failed: {exc}; "
                                 f"commit these by hand: {offsets}") from exc
        finally:
            committer.close()
        failed = [tp for tp in done or () if tp.error is not None]
        if failed:
            raise RecoveryFailed(f"group {group} was deleted but {len(failed)} offset(s) were not committed back "
                                 f"({failed[0].error}); commit these by hand: {offsets}")
    log.warning("consumer group %s deleted and re-created with %d committed offset(s) kept", group, len(offsets))
    return Recovered(group, offsets)

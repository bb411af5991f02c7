"""What `/readyz`, `yunguan status` and the console call a stalled intake, from worker heartbeats."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store.heartbeats import Beat, intake_problems, lag_reason, unassigned_reason

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STUCK_AFTER, HEARTBEAT = timedelta(seconds=30), timedelta(seconds=5)


def _beat(worker: str, *, partitions: int = 0, state: str = "consuming", reason: str | None = None,
          ago: float = 1.0) -> Beat:
    owned = [{"topic": "reports.grid", "partition": n, "position": 10, "end": 10, "lag": 0} for n in range(partitions)]
    return Beat(worker, "g", "h", 1, NOW - timedelta(hours=1), NOW - timedelta(seconds=ago), state, reason, owned,
                0 if owned else None, NOW - timedelta(minutes=50), NOW - timedelta(seconds=2), None, 0, 0)


def _codes(beats: list[Beat]) -> list[str]:
    return [p.code for p in intake_problems(beats, NOW, STUCK_AFTER, HEARTBEAT)]


def test_a_spare_worker_without_partitions_is_not_a_stall_while_another_consumes():
    spare = _beat("w3", state="stuck", reason=unassigned_reason(120))
    assert _codes([_beat("w1", partitions=2), _beat("w2", partitions=2), spare]) == []
    # … but when nobody owns a partition, the same heartbeat is the news
    assert _codes([spare, _beat("w4", state="stuck", reason=unassigned_reason(90))]) == \
        ["worker_unassigned", "worker_unassigned"]


def test_lagging_silent_and_missing_workers_are_reported_with_their_figures():
    lagging = _beat("w1", partitions=2, state="stuck", reason=lag_reason(42, 75))
    found = intake_problems([lagging, _beat("w2", partitions=2)], NOW, STUCK_AFTER, HEARTBEAT)
    assert [(p.code, p.params) for p in found] == [("worker_lagging", {"worker": "w1", "lag": 42, "seconds": 75})]
    silent = _beat("w2", partitions=2, ago=60)
    assert _codes([_beat("w1", partitions=2), silent]) == ["worker_silent"]
    assert _codes([silent]) == ["worker_silent", "no_worker"]
    assert _codes([]) == ["no_worker"]


def test_other_services_are_named_in_their_own_words_with_the_same_codes():
    """The lifeline and notify consumers are judged by the same rules; only the sentences name them."""
    from store.heartbeats import LIFELINE, NOTIFY, group_problems

    silent = _beat("c1", partitions=1, ago=60)
    for service, command in ((LIFELINE, "yunguan lifeline"), (NOTIFY, "yunguan notify")):
        found = group_problems([silent], NOW, STUCK_AFTER, HEARTBEAT, service)
        assert [p.code for p in found] == ["worker_silent", "no_worker"]
        assert found[0].startswith(f"{service.member} c1 silent") and command in found[1], found
    assert group_problems([], NOW, STUCK_AFTER, HEARTBEAT, LIFELINE)[0] == \
        "no lifeline consumer is running (start `yunguan lifeline`)"

"""The intake worker's Prometheus metrics (served by `yunguan worker` on `worker_metrics_port`)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WORKER_MESSAGES = Counter("yunguan_worker_messages", "Intake messages handled (committed)")
WORKER_DEAD_LETTERS = Counter("yunguan_worker_dead_letters", "Messages dead-lettered", ["kind"])
WORKER_BATCH_SECONDS = Histogram("yunguan_worker_batch_seconds", "Time to handle one polled batch",
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
WORKER_LAG = Gauge("yunguan_worker_lag", "Messages behind on the partitions this worker owns")
WORKER_ASSIGNED = Gauge("yunguan_worker_partitions", "Partitions this worker owns")
WORKER_STUCK_SECONDS = Gauge("yunguan_worker_stuck_seconds", "How long this worker has been stuck (0: progressing)")
WORKER_FAILURES = Counter("yunguan_worker_loop_failures", "Transient failures of the worker loop (replayed)")
GROUP_RECOVERIES = Counter("yunguan_worker_group_recoveries", "Wedged consumer groups recovered by this process (worker, lifeline or notify)")

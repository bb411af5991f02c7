"""How the worker tells the input's failures from the surroundings': transient failures are replayed, a message
that fails for its own sake is dead-lettered (decision 0015), and a stream where nearly everything fails trips
the breaker, because then the code or a producer is broken, not the input."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


def is_transient(exc: BaseException) -> bool:
    """A failure of the surroundings, not of the input: the database or the broker away or busy (connection
    lost, lock or statement timeout, serialization failure, deadlock), or a race with another worker. The
    worker backs off and replays these; anything else is blamed on the batch's messages."""
    from confluent_kafka import KafkaException
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.exc import InterfaceError as SAInterfaceError

    from application.ingest import ConcurrentIntake
    from streams.producer import BrokerUnavailable

    if isinstance(exc, OperationalError | SAInterfaceError | ConcurrentIntake | BrokerUnavailable | KafkaException
                  | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    # 08 connection, 40 rollback (serialization, deadlock), 53 resources, 55 lock not available, 57 operator
    # intervention (cancel, shutdown), 58 system error.
    return sqlstate[:2] in ("08", "40", "53", "55", "57", "58")


def failure_reason(exc: BaseException) -> str:
    """The database's own words when it refused (SQLSTATE and primary message), else the exception."""
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    if diag is not None and getattr(diag, "message_primary", None):
        return f"the database refused it: {diag.message_primary} (SQLSTATE {orig.sqlstate})"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]


class BreakerOpen(RuntimeError):
    """Nearly every message looked invalid: the code (or a producer) is broken, not the input."""


@dataclass
class Breaker:
    """Trips when at least `threshold` of the last `window` messages were dead-lettered."""

    window: int
    threshold: float
    _recent: deque = field(default_factory=deque)

    def record(self, valid: int, invalid: int) -> None:
        self._recent.extend([False] * valid + [True] * invalid)
        while len(self._recent) > self.window:
            self._recent.popleft()
        if len(self._recent) >= self.window:
            share = sum(self._recent) / len(self._recent)
            if share >= self.threshold:
                raise BreakerOpen(
                    f"{share:.0%} of the last {len(self._recent)} messages were invalid; stopping before "
                    "dead-lettering everything. Check the producers and the envelope schema, then restart."
                )

"""The only module that knows every part: builds the engine, router cache, producer and clock once."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from config import Settings
from store.db import make_engine
from store.roles import app_url
from streams.routing import RoutingCache
from streams.topics import Topics

log = logging.getLogger(__name__)


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    topics: Topics
    clock: Callable[[], datetime]
    _producer: object | None = None
    _producer_lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: object | None = None
    _broker_down_until: float = 0.0
    _broker_failures: int = 0

    def broker_retry_after(self) -> float:
        """Seconds until HTTP intake tries the broker again after a failed send (0: try now)."""
        import time

        return max(0.0, self._broker_down_until - time.monotonic())

    def broker_failed(self) -> None:
        """The broker did not acknowledge: drop the producer (a kafka-python producer that lived through a
        broker pause can stay wedged) and answer 503 at once for a moment before trying a new one."""
        import time

        with self._producer_lock:
            producer, self._producer = self._producer, None
            self._broker_failures += 1
            self._broker_down_until = time.monotonic() + self.settings.broker_retry_after_s
        if producer is not None:  # closing waits for in-flight sends: never on the request's thread
            threading.Thread(target=_close_quietly, args=(producer,), daemon=True).start()

    def broker_succeeded(self) -> None:
        self._broker_failures = 0

    @property
    def broker_failing(self) -> bool:
        """The last attempt to publish failed (for /readyz: a paused broker still accepts connections)."""
        return self._broker_failures > 0

    def producer(self):
        """Created on first use, so a process starts (and reports not-ready) while the broker is down."""
        from streams.producer import make_producer

        with self._producer_lock:
            if self._producer is None:
                self._producer = make_producer(self.settings.kafka_bootstrap)
            return self._producer

    def loop(self):
        """The closed loop's context cache (taxonomy limits, calendar, unit levels), one per process."""
        from dispatch.worktime import WorkingTime
        from store.loop import LoopContextCache

        with self._producer_lock:
            if self._loop is None:
                self._loop = LoopContextCache(self.engine, WorkingTime.from_settings(self.settings),
                                              self.topics.ticket_events)
            return self._loop

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
        self.engine.dispose()


def _close_quietly(producer) -> None:
    """Let the sends in flight end (they fail within the producer's delivery timeout), then close: a producer
    closed with sends pending tries again, and fails, when it is garbage-collected."""
    try:
        producer.close(timeout=15)
    except Exception as exc:  # noqa: BLE001 - a producer being discarded; nothing depends on it
        log.info("closing a discarded producer: %s", exc)


def build(settings: Settings) -> Deps:
    return Deps(
        settings=settings,
        # The application role: it cannot rewrite history (store/roles.py); migrations keep the owner's URL.
        engine=make_engine(app_url(settings.database_url, settings.app_database_url)),
        topics=Topics(settings.topic_prefix),
        clock=lambda: datetime.now(UTC),
    )


def build_worker(deps: Deps):
    """The intake worker, with librdkafka's producer for its dead letters and event relay (streams.rdkafka)."""
    from functools import partial

    from streams import rdkafka
    from streams.worker import Worker

    return Worker(
        settings=deps.settings,
        engine=deps.engine,
        send=partial(rdkafka.send_confirmed, rdkafka.make_producer(deps.settings.kafka_bootstrap)),
        routing=RoutingCache.from_settings(deps.engine, deps.settings),
        topics=deps.topics,
        clock=deps.clock,
        loop=deps.loop(),
    )

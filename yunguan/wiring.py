"""The only module that knows every part: builds the engine, router cache, producer and clock once."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from application.routing import RoutingCache
from config import Settings
from store.db import make_engine
from store.roles import app_url
from streams.topics import Topics

log = logging.getLogger(__name__)


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    topics: Topics
    clock: Callable[[], datetime]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: object | None = None
    _publisher: object | None = None

    @property
    def publisher(self):
        """HTTP intake's report publisher (streams.producer.ReportPublisher); its producer is made on first
        use, so a process starts (and reports not-ready) while the broker is down."""
        from streams.producer import ReportPublisher

        with self._lock:
            if self._publisher is None:
                self._publisher = ReportPublisher(self.settings.kafka_bootstrap, self.topics.report,
                                                  self.settings.broker_retry_after_s)
            return self._publisher

    def loop(self):
        """The closed loop's context cache (taxonomy limits, calendar, unit levels), one per process."""
        from dispatch.worktime import WorkingTime
        from store.loop import LoopContextCache

        with self._lock:
            if self._loop is None:
                self._loop = LoopContextCache(self.engine, WorkingTime.from_settings(self.settings),
                                              self.topics.ticket_events)
            return self._loop

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
        self.engine.dispose()


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


def build_lifeline(deps: Deps):
    """The lifeline consumer (sensors.readings), with librdkafka's producer for dead letters and the relay."""
    from functools import partial

    from streams import rdkafka
    from streams.lifeline import LifelineConsumer

    return LifelineConsumer(
        settings=deps.settings,
        engine=deps.engine,
        send=partial(rdkafka.send_confirmed, rdkafka.make_producer(deps.settings.kafka_bootstrap)),
        topics=deps.topics,
        loop=deps.loop(),
        clock=deps.clock,
    )

"""The outbox relay: publishes committed ticket events on a thread of its own (see `Relay`)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from streams.outbox import Send, relay_all

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    messages: int = 0
    batches: int = 0
    tickets: int = 0
    dead_letters: int = 0
    poisoned: int = 0  # of the dead letters: valid envelopes the database refused
    events_relayed: int = 0


@dataclass
class Relay:
    """Publishes the outbox on a thread of its own, woken after each committed batch (and every `idle_s`, for
    events the web and the deadline pass write). Inline, the relay kept the batch loop waiting for broker
    acknowledgements; on its own thread it runs while the loop waits for the database and the broker, and
    a batch's events leave as soon as its transaction commits. A failure (broker away) is handed to the
    loop, which replays as for any transient failure; unsent rows simply stay in the outbox."""

    engine: Engine
    send: Send
    stats: WorkerStats
    idle_s: float = 0.2
    _wake: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)
    _failure: BaseException | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def check(self) -> None:
        """Raise the relay's failure in the loop's thread (then the loop backs off and starts again)."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def stop(self, quiet: bool = False) -> None:
        """Publish what is committed, then end the thread; a failure surfaces as in `check` (or is only
        logged, when the loop is already stopping for a reason of its own)."""
        self._done.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if quiet and self._failure is not None:
            log.warning("outbox relay stopped: %s (unsent events stay in the outbox)", self._failure)
            self._failure = None
        self.check()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.idle_s)
            self._wake.clear()
            done = self._done.is_set()
            try:
                self.stats.events_relayed += relay_all(self.engine, self.send)
            except BaseException as exc:  # noqa: BLE001 - handed to the loop's thread
                self._failure = exc
                return
            if done:
                return

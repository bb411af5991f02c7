"""What the benchmarks share: a private Tansu broker (unless one is given) and a database of their own made
afresh with the demo's areas, units and categories, torn down afterwards — also when the set-up fails, so a
failed run leaves no broker behind."""
from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

from store.db import make_engine, with_database
from store.migrate import upgrade
from yunguan.demo import load_demo_data
from yunguan.services import drop_database, ensure_broker, ensure_postgres, stop_broker


def quiet(_: str) -> None:
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stage:
    """`with Stage(settings, "yunguan_bench_x", bootstrap=None) as stage:` → `stage.url`, `stage.engine`,
    `stage.bootstrap`, `stage.state` (a temporary folder for the broker's and the processes' logs)."""

    def __init__(self, settings, database: str, *, bootstrap: str | None = None, keep_db: bool = False,
                 keep_logs: bool = False) -> None:
        self.url = with_database(settings.database_url, database)
        self.state = Path(tempfile.mkdtemp(prefix=f"{database.replace('_', '-')}-"))
        self.own_broker = not bootstrap
        self.bootstrap = bootstrap or f"127.0.0.1:{free_port()}"
        self.keep_db, self.keep_logs = keep_db, keep_logs
        self.engine = None

    def __enter__(self) -> Stage:
        if self.own_broker:
            ensure_broker(self.bootstrap, self.state, quiet)
        try:
            drop_database(self.url)
            ensure_postgres(self.url, quiet)
            self.engine = make_engine(self.url)
            upgrade(self.engine)
            load_demo_data(self.engine, quiet)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.engine is not None:
                self.engine.dispose()
            if not self.keep_db:
                drop_database(self.url)
        finally:
            if self.own_broker:
                stop_broker(self.state, quiet)
            if not self.keep_logs:
                shutil.rmtree(self.state, ignore_errors=True)

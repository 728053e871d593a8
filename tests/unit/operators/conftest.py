"""What an operator leaves open on a database: every engine that connected to it, and whether it was disposed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


@dataclass
class EngineWatch:
    """The engines that connected to the SQLite file ``database`` while watched."""

    database: Path
    engines: list[Engine] = field(default_factory=list)
    disposed: list[Engine] = field(default_factory=list)

    def on_connect(self, connection: Connection) -> None:
        engine = connection.engine
        if engine.url.database == str(self.database) and all(e is not engine for e in self.engines):
            self.engines.append(engine)

    def on_dispose(self, engine: Engine) -> None:
        self.disposed.append(engine)

    def left_open(self) -> list[str]:
        """The engines not disposed or whose pools still hold connections, by URL."""
        return [
            str(e.url)
            for e in self.engines
            if all(d is not e for d in self.disposed) or e.pool.checkedin() + e.pool.checkedout()
        ]


@pytest.fixture
def watch_engines() -> Iterator[Callable[[Path], EngineWatch]]:
    """Start watching the engines that connect to a SQLite file; the listeners go at teardown."""
    watches: list[EngineWatch] = []

    def start(database: Path) -> EngineWatch:
        watch = EngineWatch(database)
        event.listen(Engine, "engine_connect", watch.on_connect)
        event.listen(Engine, "engine_disposed", watch.on_dispose)
        watches.append(watch)
        return watch

    yield start
    for watch in watches:
        event.remove(Engine, "engine_connect", watch.on_connect)
        event.remove(Engine, "engine_disposed", watch.on_dispose)

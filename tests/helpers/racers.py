"""Separate interpreters that run the same store operation at the same moment, round after round.

Races between monitors or between a DAG task and the REST API happen between
processes, each with its own connection pool, so a test of them needs real
processes, not threads. Each racer runs ``script`` (which defines
``run(command: dict) -> dict``) once, imports done, and then answers one JSON
line per command on stdin with one JSON line on stdout. A round writes every
racer its command and then reads every answer, so the racers start together
(within a pipe write of each other) and a round ends when all are done.

The script may widen the race window itself (e.g. a pause inside the
transaction, from an SQLAlchemy event), so that a missing lock loses an update
every round instead of now and then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import IO, Any

_LOOP = """
import json, sys

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    print(json.dumps(run(json.loads(line))), flush=True)
"""


class Racers:
    """Started by :func:`racers`; :meth:`round` runs one command in each at once."""

    def __init__(self, procs: list[subprocess.Popen[str]], errors: list[IO[str]]) -> None:
        self._procs = procs
        self._errors = errors

    def _answer(self, index: int) -> dict[str, Any]:
        line = self._procs[index].stdout.readline()  # type: ignore[union-attr]
        if not line:
            self._errors[index].seek(0)
            raise AssertionError(f"racer {index} died: {self._errors[index].read()[-3000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def round(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send ``commands[i]`` to racer ``i`` (all sent before any answer is read); their answers."""
        assert len(commands) == len(self._procs), "one command per racer"
        for proc, command in zip(self._procs, commands, strict=True):
            proc.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        return [self._answer(i) for i in range(len(self._procs))]


@contextmanager
def racers(
    script: str, count: int = 2, *, argv: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> Iterator[Racers]:
    """``count`` interpreters running ``script`` with ``argv``, all ready (imports done) when this yields.

    They get this process's environment, updated with ``env``.
    """
    procs: list[subprocess.Popen[str]] = []
    errors: list[IO[str]] = []
    with ExitStack() as files:
        try:
            for _ in range(count):
                err = files.enter_context(tempfile.TemporaryFile("w+"))
                errors.append(err)
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", script + "\n" + _LOOP, *argv],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=err,
                        text=True,
                        env={**os.environ, **(env or {})},
                    )
                )
            started = Racers(procs, errors)
            for index in range(count):
                assert started._answer(index) == {"ready": True}
            yield started
        finally:
            for proc in procs:
                if proc.stdin:
                    proc.stdin.close()  # end of commands: the racer's loop ends and it exits
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc.stdout:
                    proc.stdout.close()

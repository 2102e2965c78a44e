"""A transfer's pace: uploads and downloads have no total deadline, but one that stops moving is given up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from pika_mcp.errors import FalUnreachable

# A video or an upload on a poor link still moves far faster than this; a trickling or stalled peer does not.
MIN_BYTES_PER_SECOND = 10_000
WINDOW_SECONDS = 30.0
# Once an upload's body is sent, its answer (a small JSON) must follow within this, like any answer from fal.
ANSWER_SECONDS = 60.0


@dataclass(frozen=True)
class Pace:
    """At least `min_rate` bytes a second, counted over each `window` seconds of a transfer."""

    min_rate: float = MIN_BYTES_PER_SECOND
    window: float = WINDOW_SECONDS
    answer: float = ANSWER_SECONDS

    @asynccontextmanager
    async def guard(self, what: str) -> AsyncIterator[Meter]:
        """Inside, count the bytes moved on the meter; a window in which too few moved aborts with FalUnreachable."""
        meter = Meter()
        why = ""

        async def watch(scope: anyio.CancelScope) -> None:
            nonlocal why
            while not meter.done:
                before = meter.moved
                await anyio.sleep(self.window)
                if not meter.done and meter.moved - before < self.min_rate * self.window:
                    why = f"moved slower than {self.min_rate / 1000:g} KB/s for {self.window:g} s"
                    scope.cancel()
                    return
            await anyio.sleep(self.answer)
            why = f"got no answer within {self.answer:g} s of its last byte"
            scope.cancel()

        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, tg.cancel_scope)
            try:
                yield meter
            except Exception as exc:  # raised below as it is, not wrapped in the task group's ExceptionGroup
                failure = exc
            finally:
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        if why:
            raise FalUnreachable(f"{what} {why} and was given up.")


class Meter:
    """What a guarded transfer has moved so far; `done` once nothing is left to move (an answer is awaited)."""

    def __init__(self) -> None:
        self.moved = 0
        self.done = False

    def add(self, count: int) -> None:
        self.moved += count

    async def counted(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """`chunks`, counted as they are taken (an upload's body); done when they run out."""
        async for chunk in chunks:
            self.add(len(chunk))
            yield chunk
        self.done = True

"""A thread-safe change signal: render threads and handlers wake waiting streams and the scheduler."""

from __future__ import annotations

import asyncio
import threading

import anyio


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Changes:
    """A version counter plus waiters; `wait(since=v)` returns at once if anything changed after v."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self.version = 0

    def notify(self) -> None:
        """Wake every waiter, from any thread."""
        with self._lock:
            self.version += 1
            waiters = list(self._waiters)
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop has closed; its waiter is gone with it
                pass

    async def wait(self, timeout: float, since: int | None = None) -> bool:
        """Wait up to `timeout` seconds for a change; True when one happened."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            if since is not None and self.version != since:
                return True
            self._waiters.add(entry)
        try:
            with anyio.move_on_after(max(timeout, 0.0)):
                await future
                return True
            return False
        finally:
            with self._lock:
                self._waiters.discard(entry)

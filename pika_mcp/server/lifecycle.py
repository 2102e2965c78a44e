"""The server's runtime, started in the background with the MCP server's lifespan and awaited by every handler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Literal

import anyio

from pika_mcp.errors import ConfigError
from pika_mcp.runtime import Runtime
from pika_mcp.server.edge import Edge
from pika_mcp.server.results import Results

log = logging.getLogger(__name__)

Start = Callable[[], AbstractAsyncContextManager[Runtime]]
State = Literal["starting", "ready", "failed"]


class Lifecycle:
    """Starts the runtime without holding up the first tools/list (HTTP clients, the embedded sandbox take a moment)."""

    def __init__(self, start: Start, on_start: Callable[[Edge], None]) -> None:
        self._start = start
        self._on_start = on_start
        self._edge: Edge | None = None
        self._ready: anyio.Event | None = None
        self._failure: BaseException | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While inside, the runtime runs (or has failed to start); on exit it stops."""
        ready, stop = anyio.Event(), anyio.Event()
        self._ready, self._failure = ready, None

        async def run() -> None:
            try:
                async with self._start() as runtime:
                    edge = Edge(
                        runtime.service,
                        runtime.inputs,
                        Results(runtime.service),
                        runtime.queue_url,
                        runtime.rest_url,
                        runtime.origins,
                    )
                    self._on_start(edge)
                    self._edge = edge
                    ready.set()
                    await stop.wait()
            except Exception as exc:
                log.exception("pika-mcp could not start")
                self._failure = exc
            finally:
                self._edge = None
                ready.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            try:
                yield
            finally:
                stop.set()

    @property
    def state(self) -> State:
        """`ready` once the runtime (ledger, HTTP clients, embedded sandbox) is up, `starting` before, `failed` after a failed start."""
        if self._edge is not None:
            return "ready"
        return "failed" if self._failure is not None else "starting"

    async def ready(self) -> Edge:
        """The running collaborators, once started; a start that failed is reported to the caller."""
        if self._edge is not None:  # started: no trip through the event loop on every call
            return self._edge
        if self._ready is not None:
            await self._ready.wait()
        if self._edge is None:
            raise ConfigError(f"pika-mcp could not start: {self._failure or 'not running'}. See its log for details.")
        return self._edge

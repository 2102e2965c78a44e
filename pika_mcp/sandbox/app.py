"""The sandbox: a fal-compatible Starlette app over durable state, with switches tests can flip."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from pika_mcp.sandbox import control, queue, storage
from pika_mcp.sandbox.access import HostCheck, control_token
from pika_mcp.sandbox.changes import Changes
from pika_mcp.sandbox.config import SandboxConfig
from pika_mcp.sandbox.files import FileStore
from pika_mcp.sandbox.job import Job
from pika_mcp.sandbox.record import ReceivedRequest
from pika_mcp.sandbox.route import Operation, OpRoute
from pika_mcp.sandbox.state import DATABASE_NAME, Store
from pika_mcp.sandbox.video import Renderer, default_renderer, render_job

Clock = Callable[[], float]
# Two renders at a time keep a laptop responsive; more jobs simply finish a little later.
RENDER_WORKERS = 2
# The scheduler re-checks at least this often, so a fake clock moved without notify() still counts.
SCHEDULER_MAX_WAIT_SECONDS = 1.0
# Requests kept for `/_sandbox/requests` and tests, newest last: enough for the bench's busiest window (1,000 jobs
# polled for a minute), bounded so that no caller can grow the sandbox's memory by sending requests.
MAX_RECORDED_REQUESTS = 20_000

# Every route the sandbox serves, most specific first.
ROUTES: tuple[Operation, ...] = (
    Operation("/_sandbox/health", control.health, ("GET",)),
    Operation("/_sandbox/requests", control.requests, ("GET",)),
    Operation("/_sandbox/jobs", control.jobs, ("GET",)),
    Operation("/_sandbox/config", control.config, ("GET", "POST")),
    Operation("/_sandbox/faults", control.faults, ("POST",)),
    Operation("/_sandbox/reset", control.reset, ("POST",)),
    Operation("/storage/auth/token", storage.token, ("POST",), op="token"),
    Operation("/storage/upload/initiate", storage.initiate, ("POST",), op="token"),
    Operation("/storage/upload/initiate-multipart", storage.initiate_multipart, ("POST",), op="token"),
    Operation("/storage/upload/{upload_id}", storage.signed_put, ("PUT",), op="upload", buffered=False),
    Operation("/storage/multipart/{upload_id}/complete", storage.signed_complete, ("POST",), op="upload"),
    Operation("/storage/multipart/{upload_id}/{part:int}", storage.signed_part, ("PUT",), op="upload", buffered=False),
    Operation("/files/upload", storage.upload, ("POST",), op="upload", buffered=False),
    Operation("/files/upload/multipart", storage.multipart_create, ("POST",), op="upload"),
    Operation("/files/{token}/{name}/multipart/{upload_id}/complete", storage.multipart_complete, ("POST",), op="upload"),
    Operation(
        "/files/{token}/{name}/multipart/{upload_id}/{part:int}", storage.multipart_part, ("PUT",), op="upload", buffered=False
    ),
    Operation("/files/{path:path}", storage.download, ("GET", "HEAD"), op="download"),
    Operation("/{owner}/{alias}/requests/{request_id}/status/stream", queue.stream, ("GET",), op="stream"),
    Operation("/{owner}/{alias}/requests/{request_id}/status", queue.status, ("GET",), op="status"),
    Operation("/{owner}/{alias}/requests/{request_id}/cancel", queue.cancel, ("PUT",), op="cancel"),
    Operation("/{owner}/{alias}/requests/{request_id}", queue.result, ("GET",), op="result"),
    Operation("/{owner}/{alias}/{path:path}", queue.submit, ("POST",), op="submit"),
)


class Sandbox:
    """fal's queue and storage in one ASGI app (`.app`); jobs and files persist in `state_dir`."""

    def __init__(
        self,
        state_dir: Path,
        config: SandboxConfig | None = None,
        clock: Clock = time.time,
        renderer: Renderer | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        """`allowed_hosts`: names besides loopback and the address a request came in on (PIKA_MCP_ALLOWED_HOSTS)."""
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.control_token = control_token(state_dir)
        self.config = config if config is not None else SandboxConfig()
        self.clock = clock
        self.renderer = renderer if renderer is not None else default_renderer()
        self.store = Store(state_dir / DATABASE_NAME)
        self.files = FileStore(state_dir)
        self.changes = Changes()
        self._received: deque[ReceivedRequest] = deque(maxlen=MAX_RECORDED_REQUESTS)
        self.counts: Counter[str] = Counter()
        self.stopping = False
        self._rendering: set[str] = set()
        self._lock = threading.Lock()
        self._workers = ThreadPoolExecutor(RENDER_WORKERS, thread_name_prefix="sandbox-render")
        middleware = [Middleware(HostCheck, allowed_hosts=tuple(allowed_hosts))]
        self.app = Starlette(routes=self._routes(), middleware=middleware, lifespan=self._lifespan)

    def _routes(self) -> list[BaseRoute]:
        return [Route(r.path, OpRoute(self, r.handler, r.op, r.buffered), methods=list(r.methods)) for r in ROUTES]

    @property
    def received(self) -> list[ReceivedRequest]:
        """The most recent requests (at most MAX_RECORDED_REQUESTS), oldest first."""
        return list(self._received)

    def record(self, request: ReceivedRequest) -> None:
        self._received.append(request)

    def job(self, request_id: str) -> Job | None:
        return self.store.job(request_id)

    def job_ids(self) -> list[str]:
        return self.store.request_ids()

    def notify(self) -> None:
        """Wake streams and the scheduler, e.g. after moving a fake clock."""
        self.changes.notify()

    def reset(self) -> None:
        """Forget recorded requests and counts; drop pending faults and failures. Jobs stay."""
        self._received.clear()
        self.counts.clear()
        self.config.faults.clear()
        self.config.fail_next.clear()
        self.changes.notify()

    def start_due_renders(self) -> None:
        """Start rendering every job whose run has begun and that has no video yet."""
        for job in self.store.due_renders(self.clock()):
            with self._lock:
                if job.request_id in self._rendering or self.stopping:
                    continue
                self._rendering.add(job.request_id)
            self._workers.submit(self._render, job)

    def _render(self, job: Job) -> None:
        try:
            render_job(self.renderer, job, self.files, self.store)
        finally:
            self.changes.notify()

    async def wait_stopped(self) -> None:
        while not self.stopping:
            await self.changes.wait(SCHEDULER_MAX_WAIT_SECONDS)

    def stop(self) -> None:
        """End hanging requests and open status streams, so a server can shut down."""
        self.stopping = True
        self.changes.notify()

    def close(self) -> None:
        """Stop, wait for running renders, and close the database."""
        self.stop()
        self._workers.shutdown(wait=True)
        self.files.close()
        self.store.close()

    async def _schedule(self) -> None:
        while True:
            version = self.changes.version
            self.start_due_renders()
            now = self.clock()
            next_start = self.store.next_start(now)
            wait = SCHEDULER_MAX_WAIT_SECONDS if next_start is None else next_start - now + 0.002
            await self.changes.wait(min(wait, SCHEDULER_MAX_WAIT_SECONDS), since=version)

    @asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        self.stopping = False
        async with anyio.create_task_group() as group:
            group.start_soon(self._schedule)
            yield
            group.cancel_scope.cancel()

"""The MCP server: builds the MCPServer from its collaborators and keeps what the tools and resources share."""

from __future__ import annotations

import base64
import fnmatch
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp_types import CallToolResult, ImageContent, TextContent

from pika_mcp import __version__
from pika_mcp.arguments import quote
from pika_mcp.errors import ConfigError, InputError, PikaError
from pika_mcp.job import STATUSES, Job
from pika_mcp.retry import RetryPolicy
from pika_mcp.runtime import Runtime
from pika_mcp.server import resources
from pika_mcp.server.owner import owner_of
from pika_mcp.server.tools import MAX_LIST, all_tools
from pika_mcp.settings import Settings
from pika_mcp.view import JobList, JobView, headline, job_view

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Make videos with Pika on fal.ai. Each generation tool starts a paid job and waits up to wait_seconds; "
    "if the job is not finished, call pika_wait_for_job(job_id) until it is. Never start the same job again "
    "to 'retry' a wait: the job keeps running. Jobs are also resources at pika://jobs/{job_id}."
)


class QuietBus(InMemorySubscriptionBus):
    """The SDK's bus, except that an event nobody listens to costs nothing: the SDK's yields to the
    event loop after every event, three times for each job change, inside every generation call."""

    def __init__(self) -> None:
        super().__init__()
        self.listening = 0

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        unsubscribe = super().subscribe(listener)
        self.listening += 1
        done = False

        def undo() -> None:
            nonlocal done
            if not done:
                done = True
                self.listening -= 1
            unsubscribe()

        return undo

    async def publish(self, event: Any) -> None:
        if self.listening:
            await super().publish(event)


def selected(name: str, patterns: tuple[str, ...] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)


class PikaServer:
    """Builds the MCPServer and keeps what its handlers share: the runtime and the legacy subscribers."""

    def __init__(
        self,
        settings: Settings,
        start: Callable[[], Any],
        *,
        token_verifier: Any = None,
        auth: Any = None,
        legacy_subscriptions: bool = True,
    ) -> None:
        self.settings = settings
        self.legacy_subscriptions = legacy_subscriptions
        self._start = start
        self._runtime: Runtime | None = None
        self._ready: anyio.Event | None = None
        self._failure: BaseException | None = None
        self.bus = QuietBus()
        # 2025-era subscriptions: uri -> {session: the person who subscribed}; updates go only to that person's jobs
        # keyed by connection (the SDK makes a new session object for every request), holding the session to send on
        self.legacy: dict[str, dict[Any, tuple[Any, str]]] = defaultdict(dict)
        self.mcp = MCPServer(
            "pika-mcp",
            title="Pika video generation (fal.ai)",
            version=__version__,
            instructions=INSTRUCTIONS,
            tools=[t for t in all_tools(self) if selected(t.name, settings.tools)],
            lifespan=self._lifespan,
            subscriptions=self.bus,
            token_verifier=token_verifier,  # HTTP only: one bearer token per person (pika_mcp.http)
            auth=auth,
        )
        resources.install(self)

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the server is not running")
        return self._runtime

    @asynccontextmanager
    async def _lifespan(self, _: MCPServer) -> AsyncIterator[None]:
        """Start the runtime in the background: the first tools/list need not wait for HTTP clients or the sandbox."""
        ready, stop = anyio.Event(), anyio.Event()
        self._ready, self._failure = ready, None

        async def run() -> None:
            try:
                async with self._start() as runtime:
                    self._runtime = runtime
                    runtime.service.listeners.append(lambda job: resources.publish(self, job))
                    ready.set()
                    await stop.wait()
            except Exception as exc:
                log.exception("pika-mcp could not start")
                self._failure = exc
            finally:
                self._runtime = None
                ready.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            try:
                yield
            finally:
                stop.set()

    @property
    def state(self) -> str:
        """`ready` once the runtime (ledger, HTTP clients, embedded sandbox) is up, `starting` before, `failed` after a failed start."""
        if self._runtime is not None:
            return "ready"
        return "failed" if self._failure is not None else "starting"

    async def ready(self) -> Runtime:
        """The running runtime, once started; a start that failed is reported to the caller."""
        if self._runtime is not None:  # started: no trip through the event loop on every call
            return self._runtime
        if self._ready is not None:
            await self._ready.wait()
        if self._runtime is None:
            raise ConfigError(f"pika-mcp could not start: {self._failure or 'not running'}. See its log for details.")
        return self._runtime

    # -- results --------------------------------------------------------------------------------

    def view(self, job: Job, deduplicated: bool = False) -> JobView:
        video_url = None
        if job.video is not None and job.video.get("url"):
            video_url = self.runtime.service.queue.url(job.video["url"])
        return job_view(job, deduplicated=deduplicated, public_url=video_url)

    def result(self, job: Job, deduplicated: bool = False) -> CallToolResult:
        """The job view as structured content, one readable line, and the poster once there is one.

        No resource_link items: agent frameworks mishandle them (LangChain's adapter makes each a file block that
        OpenAI's chat API rejects; pydantic-ai 1.x reads every one through the server). The text names the URIs."""
        view = self.view(job, deduplicated)
        content: list[Any] = [TextContent(type="text", text=headline(view))]
        if view.video is not None and view.video.poster_path:
            try:
                data = base64.b64encode(Path(view.video.poster_path).read_bytes()).decode()
                content.append(ImageContent(type="image", data=data, mime_type="image/jpeg"))
            except OSError:  # pruned between the view and the read
                pass
        return CallToolResult(content=content, structured_content=view.model_dump(mode="json"))

    @staticmethod
    def refusal(exc: PikaError) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)

    async def progress(self, ctx: Context, timeout: float) -> Callable[[Job, float], Awaitable[None]]:
        async def report(job: Job, elapsed: float) -> None:
            where = f", position {job.queue_position} in queue" if job.queue_position is not None else ""
            await ctx.report_progress(min(elapsed, timeout), timeout, f"{job.job_id}: {job.status}{where}")

        return report

    def listing(self, status: str | None = None, limit: int = 20) -> JobList:
        if status is not None and status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}; got {quote(status)}.")
        if not 1 <= limit <= MAX_LIST:
            raise InputError(f"limit must be from 1 to {MAX_LIST}, got {quote(limit)}.")
        jobs, spent = self.runtime.service.list(owner_of(), status, limit)
        return JobList(jobs=[self.view(j) for j in jobs], spend_24h_usd=spent)


def build_server(
    settings: Settings,
    start: Callable[[], Any] | None = None,
    *,
    remote: bool = False,
    retry: RetryPolicy | None = None,
    token_verifier: Any = None,
    auth: Any = None,
    legacy_subscriptions: bool = True,
) -> PikaServer:
    """The server from its collaborators; `start` yields a running Runtime (default: runtime.start).

    `remote` (HTTP) starts the runtime with no local folder readable unless PIKA_MCP_ALLOWED_DIRS is set;
    `token_verifier` and `auth` are the SDK's bearer-token settings, one token per person;
    `legacy_subscriptions=False` (sessionless HTTP) leaves 2025-era resources/subscribe unadvertised.
    """
    if start is None:
        from pika_mcp import runtime

        start = lambda: runtime.start(settings, remote=remote, retry=retry)  # noqa: E731
    return PikaServer(settings, start, token_verifier=token_verifier, auth=auth, legacy_subscriptions=legacy_subscriptions)

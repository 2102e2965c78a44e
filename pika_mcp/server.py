"""The MCP server: generation tools from the catalog, job tools, job resources and their subscriptions."""

from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp_types import (
    CallToolResult,
    EmptyResult,
    ImageContent,
    ResourceLink,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    TextContent,
    ToolAnnotations,
    UnsubscribeRequestParams,
)
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import BaseModel, ConfigDict

from pika_mcp import __version__
from pika_mcp.arguments import input_schema
from pika_mcp.arguments import parse as parse_call
from pika_mcp.catalog import ENDPOINTS, Endpoint
from pika_mcp.errors import ConfigError, InputError, PikaError
from pika_mcp.ledger import LOCAL_OWNER, Job
from pika_mcp.retry import RetryPolicy
from pika_mcp.runtime import Runtime
from pika_mcp.settings import MAX_WAIT_SECONDS, Settings
from pika_mcp.view import JobList, JobView, UploadView, headline, job_uri, job_view

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Make videos with Pika on fal.ai. Each generation tool starts a paid job and waits up to wait_seconds; "
    "if the job is not finished, call pika_wait_for_job(job_id) until it is. Never start the same job again "
    "to 'retry' a wait: the job keeps running. Jobs are also resources at pika://jobs/{job_id}."
)
MAX_LIST = 200

GENERATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WAIT = ToolAnnotations(read_only_hint=True, open_world_hint=True)
UPLOAD = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
CANCEL = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)


class _RawArguments(ArgModelBase):
    """Hands the tool its arguments untouched: pika-mcp validates them itself, with its own messages."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def owner_of() -> str:
    """The person behind this request: a hash of their HTTP token, or the one local owner over stdio."""
    token = get_access_token()
    if token is None:
        return LOCAL_OWNER
    return "t-" + hashlib.sha256(token.token.encode()).hexdigest()[:24]


def selected(name: str, patterns: tuple[str, ...] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)


class PikaServer:
    """Builds the MCPServer and keeps what its handlers share: the runtime and the legacy subscribers."""

    def __init__(
        self, settings: Settings, start: Callable[[], Any], *, token_verifier: Any = None, auth: Any = None
    ) -> None:
        self.settings = settings
        self._start = start
        self._runtime: Runtime | None = None
        self._ready: anyio.Event | None = None
        self._failure: BaseException | None = None
        self.bus = InMemorySubscriptionBus()
        self._legacy: dict[str, set[Any]] = defaultdict(set)  # uri -> 2025-era sessions subscribed to it
        tools = [self._generation_tool(e) for e in ENDPOINTS] + self._job_tools()
        self.mcp = MCPServer(
            "pika-mcp",
            title="Pika video generation (fal.ai)",
            version=__version__,
            instructions=INSTRUCTIONS,
            tools=[t for t in tools if selected(t.name, settings.tools)],
            lifespan=self._lifespan,
            subscriptions=self.bus,
            token_verifier=token_verifier,  # HTTP only: one bearer token per person (pika_mcp.http)
            auth=auth,
        )
        self._resources()
        low = self.mcp._lowlevel_server  # no public hook yet for 2025-era subscriptions (mcp-sdk.md 2.5)
        low.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
        low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe)
        low.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, _WatchingListen(self))

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
                    runtime.service.listeners.append(self._publish)
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

    async def ready(self) -> Runtime:
        """The running runtime, once started; a start that failed is reported to the caller."""
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
        view = self.view(job, deduplicated)
        content: list[Any] = [
            TextContent(type="text", text=headline(view)),
            ResourceLink(type="resource_link", uri=job_uri(view.job_id), name=f"job {view.job_id}", mime_type="application/json"),
        ]
        if view.video is not None and view.video.url:
            content.append(ResourceLink(type="resource_link", uri=view.video.url, name="video", mime_type="video/mp4"))
            poster = (job.video or {}).get("poster_path")
            if poster and Path(poster).is_file():
                data = base64.b64encode(Path(poster).read_bytes()).decode()
                content.append(ImageContent(type="image", data=data, mime_type="image/jpeg"))
        return CallToolResult(content=content, structured_content=view.model_dump(mode="json"))

    @staticmethod
    def refusal(exc: PikaError) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)

    async def _progress(self, ctx: Context, timeout: float) -> Callable[[Job, float], Awaitable[None]]:
        async def report(job: Job, elapsed: float) -> None:
            where = f", position {job.queue_position} in queue" if job.queue_position is not None else ""
            await ctx.report_progress(min(elapsed, timeout), timeout, f"{job.job_id}: {job.status}{where}")

        return report

    # -- tools ----------------------------------------------------------------------------------

    def _generation_tool(self, endpoint: Endpoint) -> Tool:
        async def generate(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
            try:
                await self.ready()
                call = parse_call(endpoint, arguments)
                job, deduplicated = await self.runtime.service.submit(owner_of(), endpoint, call)
            except PikaError as exc:
                return self.refusal(exc)
            wait = self.settings.wait_seconds if call.wait_seconds is None else call.wait_seconds
            if not job.finished and wait > 0:
                job = await self.runtime.service.wait(job.owner, job.local_id, wait, await self._progress(ctx, wait))
            return self.result(job, deduplicated)

        return _tool(generate, endpoint.tool, endpoint.title, endpoint.description, input_schema(endpoint), JobView, GENERATE)

    def _job_tools(self) -> list[Tool]:
        service = lambda: self.runtime.service  # noqa: E731
        job_id_schema = {"type": "string", "minLength": 1, "maxLength": 200, "description": "The job_id a generation tool returned."}

        async def get_job(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
            try:
                await self.ready()
                args = _args(arguments, {"job_id": str})
                return self.result(service().get(owner_of(), args["job_id"]))
            except PikaError as exc:
                return self.refusal(exc)

        async def wait_for_job(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
            try:
                await self.ready()
                args = _args(arguments, {"job_id": str, "timeout_seconds": int})
                timeout = args.get("timeout_seconds", self.settings.wait_seconds)
                if not 0 <= timeout <= MAX_WAIT_SECONDS:
                    raise InputError(f"timeout_seconds must be from 0 to {MAX_WAIT_SECONDS}, got {timeout}.")
                owner = owner_of()
                job = service().get(owner, args["job_id"])
                job = await service().wait(owner, job.local_id, timeout, await self._progress(ctx, timeout))
                return self.result(job)
            except PikaError as exc:
                return self.refusal(exc)

        async def cancel_job(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
            try:
                await self.ready()
                args = _args(arguments, {"job_id": str})
                return self.result(await service().cancel(owner_of(), args["job_id"]))
            except PikaError as exc:
                return self.refusal(exc)

        async def list_jobs(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
            try:
                await self.ready()
                args = _args(arguments, {"status": str, "limit": int})
                listing = self.listing(args.get("status"), args.get("limit", 20))
            except PikaError as exc:
                return self.refusal(exc)
            text = f"{len(listing.jobs)} job(s); estimated spend in the last 24 hours ${listing.spend_24h_usd:.2f}."
            return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=listing.model_dump(mode="json"))

        async def upload_file(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
            try:
                await self.ready()
                args = _args(arguments, {"path": str})
                if "path" not in args:
                    raise InputError("path is required: an absolute path or file:// URI of an image or video.")
                answer = UploadView(**await self.runtime.inputs.upload(args["path"]))
            except PikaError as exc:
                return self.refusal(exc)
            text = f"Uploaded ({answer.content_type}, {answer.file_size} bytes): {answer.url}"
            return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=answer.model_dump(mode="json"))

        statuses = ["queued", "running", "succeeded", "failed", "cancelled"]
        return [
            _tool(get_job, "pika_get_job", "Get a job",
                  "Returns a Pika job's current state (from the local ledger; no cost). The video's URL and local path once succeeded.",
                  _object({"job_id": job_id_schema}, ["job_id"]), JobView, READ),
            _tool(wait_for_job, "pika_wait_for_job", "Wait for a job",
                  "Waits up to timeout_seconds for a Pika job to finish, with progress, then returns it finished or not. "
                  "Call again while it is queued or running; waiting never cancels the job.",
                  _object({"job_id": job_id_schema, "timeout_seconds": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS,
                           "description": f"Default {self.settings.wait_seconds}."}}, ["job_id"]), JobView, WAIT),
            _tool(cancel_job, "pika_cancel_job", "Cancel a job",
                  "Asks fal to cancel a queued or running job; fal's answer decides. A job already finished is returned as it is.",
                  _object({"job_id": job_id_schema}, ["job_id"]), JobView, CANCEL),
            _tool(list_jobs, "pika_list_jobs", "List jobs",
                  "Lists your Pika jobs, newest first, with the estimated spend of the last 24 hours.",
                  _object({"status": {"type": "string", "enum": statuses},
                           "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST, "default": 20}}, []), JobList, READ),
            _tool(upload_file, "pika_upload_file", "Upload a local file",
                  "Uploads a local image or video (absolute path) to fal's storage and returns its URL. Generation tools "
                  "also take local paths directly; use this to reuse one URL many times.",
                  _object({"path": {"type": "string", "minLength": 1, "description": "Absolute path or file:// URI."}}, ["path"]),
                  UploadView, UPLOAD),
        ]  # fmt: skip

    def listing(self, status: str | None = None, limit: int = 20) -> JobList:
        if status is not None and status not in ("queued", "running", "succeeded", "failed", "cancelled"):
            raise InputError(f"status must be one of queued, running, succeeded, failed, cancelled; got {status!r}.")
        if not 1 <= limit <= MAX_LIST:
            raise InputError(f"limit must be from 1 to {MAX_LIST}, got {limit}.")
        jobs, spent = self.runtime.service.list(owner_of(), status, limit)
        return JobList(jobs=[self.view(j) for j in jobs], spend_24h_usd=spent)

    # -- resources and subscriptions -----------------------------------------------------------

    def _resources(self) -> None:
        @self.mcp.resource("pika://jobs", name="jobs", title="Your Pika jobs", mime_type="application/json",
                           description="Your jobs, newest first, and the estimated spend of the last 24 hours.")  # fmt: skip
        async def jobs() -> str:
            await self.ready()
            return self.listing().model_dump_json()

        @self.mcp.resource("pika://jobs/{job_id}", name="job", title="A Pika job", mime_type="application/json",
                           description="One job view; subscribe for an update at every status change.")  # fmt: skip
        async def job(job_id: str) -> str:
            await self.ready()
            try:
                found = self.runtime.service.get(owner_of(), job_id)
            except PikaError:
                raise ResourceNotFoundError(f"No job with id {job_id!r}.") from None
            return self.view(found).model_dump_json()

        @self.mcp.resource("pika://jobs/{job_id}/poster", name="poster", title="A job's poster frame", mime_type="image/jpeg",
                           description="A JPEG frame of a finished job's video.")  # fmt: skip
        async def poster(job_id: str) -> bytes:
            await self.ready()
            found = self.runtime.service.ledger.get(job_id, owner_of())
            path = (found.video or {}).get("poster_path") if found else None
            if not path or not Path(path).is_file():
                raise ResourceNotFoundError(f"Job {job_id!r} has no poster (unknown job, not finished, or no media extra).")
            return Path(path).read_bytes()

    def _job_for_uri(self, uri: str) -> Job | None:
        prefix = "pika://jobs/"
        if not uri.startswith(prefix) or "/" in uri[len(prefix) :]:
            return None
        return self.runtime.service.ledger.get(uri[len(prefix) :], owner_of())

    async def _subscribe(self, ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        await self.ready()
        job = self._job_for_uri(params.uri)
        if job is None:
            raise_not_found(params.uri)
        if ctx.session not in self._legacy[params.uri]:
            self._legacy[params.uri].add(ctx.session)
            self.runtime.service.tracker.watch(job.local_id)
        return EmptyResult()

    async def _unsubscribe(self, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        await self.ready()
        if ctx.session in self._legacy.get(params.uri, ()):
            self._legacy[params.uri].discard(ctx.session)
            if (job := self._job_for_uri(params.uri)) is not None:
                self.runtime.service.tracker.unwatch(job.local_id)
        return EmptyResult()

    async def _publish(self, job: Job) -> None:
        """Every status change: to 2026-era listeners through the bus, to 2025-era subscribers per session."""
        uris = {job_uri(job.local_id), job_uri(job.job_id)}
        for uri in uris:
            await self.bus.publish(ResourceUpdated(uri=uri))
            for session in list(self._legacy.get(uri, ())):
                try:
                    await session.send_resource_updated(uri)
                except Exception:  # a closed session: forget it
                    self._legacy[uri].discard(session)
        await self.bus.publish(ResourceUpdated(uri="pika://jobs"))


class _WatchingListen(ListenHandler):
    """The SDK's subscriptions/listen, plus quick tracking of the jobs a 2026-era client listens to."""

    def __init__(self, server: PikaServer) -> None:
        super().__init__(server.bus)
        self._server = server

    async def __call__(self, ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        await self._server.ready()
        uris = (params.notifications.resource_subscriptions or []) if params.notifications else []
        owned = {u: self._server._job_for_uri(u) for u in uris}
        honored = [u for u in uris if u == "pika://jobs" or owned[u] is not None]
        if params.notifications is not None and honored != uris:  # another person's job is simply unknown
            notifications = params.notifications.model_copy(update={"resource_subscriptions": honored})
            params = params.model_copy(update={"notifications": notifications})
        jobs = [j for j in owned.values() if j is not None]
        tracker = self._server.runtime.service.tracker
        for j in jobs:
            tracker.watch(j.local_id)
        try:
            return await super().__call__(ctx, params)
        finally:
            for j in jobs:
                tracker.unwatch(j.local_id)


def raise_not_found(uri: str) -> None:
    raise MCPError(code=INVALID_PARAMS, message=f"No job at {uri}.", data={"uri": uri})


def _args(raw: dict[str, Any], spec: dict[str, type]) -> dict[str, Any]:
    """Check a job tool's few arguments: known names, right types."""
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise InputError(f"Unknown argument(s) {', '.join(unknown)}; this tool accepts {', '.join(spec)}.")
    out = {}
    for name, kind in spec.items():
        value = raw.get(name)
        if value is None:
            continue
        if type(value) is not kind:
            raise InputError(f"{name} must be {'a string' if kind is str else 'an integer'}, got {json.dumps(value)[:80]}.")
        out[name] = value
    if "job_id" in spec and "job_id" not in out:
        raise InputError("job_id is required: pass the job_id a generation tool returned.")
    return out


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


@functools.cache
def _metadata(output: type[BaseModel]) -> FuncMetadata:
    """Built once per output model: each build derives the output schema, ~2 ms on the start path."""
    return FuncMetadata(arg_model=_RawArguments, output_model=output)


def _tool(fn: Any, name: str, title: str, description: str, schema: dict[str, Any], output: type[BaseModel], annotations: ToolAnnotations) -> Tool:
    return Tool(
        fn=fn,
        name=name,
        title=title,
        description=description,
        parameters=schema,
        fn_metadata=_metadata(output),
        is_async=True,
        context_kwarg="ctx",
        annotations=annotations,
    )


def build_server(
    settings: Settings,
    start: Callable[[], Any] | None = None,
    *,
    remote: bool = False,
    retry: RetryPolicy | None = None,
    token_verifier: Any = None,
    auth: Any = None,
) -> PikaServer:
    """The server from its collaborators; `start` yields a running Runtime (default: runtime.start).

    `remote` (HTTP) starts the runtime with no local folder readable unless PIKA_MCP_ALLOWED_DIRS is set;
    `token_verifier` and `auth` are the SDK's bearer-token settings, one token per person.
    """
    if start is None:
        from pika_mcp import runtime

        start = lambda: runtime.start(settings, remote=remote, retry=retry)  # noqa: E731
    return PikaServer(settings, start, token_verifier=token_verifier, auth=auth)

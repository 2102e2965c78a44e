"""Jobs as resources (pika://jobs, pika://jobs/{job_id}, its poster) and their subscriptions on both protocol eras."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.subscriptions import ListenHandler, ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)

from pika_mcp.errors import PikaError
from pika_mcp.ledger import Job
from pika_mcp.server.owner import owner_of
from pika_mcp.view import job_uri

if TYPE_CHECKING:
    from pika_mcp.server.app import PikaServer

JOBS_URI = "pika://jobs"


def install(server: PikaServer) -> None:
    """Register the job resources and the subscription handlers of both protocol eras."""
    low = server.mcp._lowlevel_server  # no public hook yet for 2025-era subscriptions (mcp-sdk.md 2.5)
    if server.legacy_subscriptions:  # a sessionless server has no session to send resources/updated on
        low.add_request_handler("resources/subscribe", SubscribeRequestParams, lambda ctx, p: _subscribe(server, ctx, p))
        low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, lambda ctx, p: _unsubscribe(server, ctx, p))
    low.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, _WatchingListen(server))

    @server.mcp.resource("pika://jobs", name="jobs", title="Your Pika jobs", mime_type="application/json",
                       description="Your jobs, newest first, and the estimated spend of the last 24 hours.")  # fmt: skip
    async def jobs() -> str:
        await server.ready()
        return server.listing().model_dump_json()

    @server.mcp.resource("pika://jobs/{job_id}", name="job", title="A Pika job", mime_type="application/json",
                       description="One job view; subscribe for an update at every status change.")  # fmt: skip
    async def job(job_id: str) -> str:
        await server.ready()
        try:
            found = server.runtime.service.get(owner_of(), job_id)
        except PikaError:
            raise ResourceNotFoundError(f"No job with id {job_id!r}.") from None
        return server.view(found).model_dump_json()

    @server.mcp.resource("pika://jobs/{job_id}/poster", name="poster", title="A job's poster frame", mime_type="image/jpeg",
                       description="A JPEG frame of a finished job's video.")  # fmt: skip
    async def poster(job_id: str) -> bytes:
        await server.ready()
        found = server.runtime.service.ledger.get(job_id, owner_of())
        path = (found.video or {}).get("poster_path") if found else None
        if not path or not Path(path).is_file():
            raise ResourceNotFoundError(f"Job {job_id!r} has no poster (unknown job, not finished, or no media extra).")
        return Path(path).read_bytes()


def job_for_uri(server: PikaServer, uri: str) -> Job | None:
    prefix = "pika://jobs/"
    if not uri.startswith(prefix) or "/" in uri[len(prefix) :]:
        return None
    return server.runtime.service.ledger.get(uri[len(prefix) :], owner_of())


async def _subscribe(server: PikaServer, ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
    await server.ready()
    job = job_for_uri(server, params.uri)
    if job is None:
        raise_not_found(params.uri)
    if ctx.session not in server.legacy[params.uri]:
        server.legacy[params.uri].add(ctx.session)
        server.runtime.service.tracker.watch(job.local_id)
        _drop_when_closed(server, ctx.session, params.uri, job.local_id)
    return EmptyResult()


def _drop_when_closed(server: PikaServer, session: Any, uri: str, local_id: str) -> None:
    """A 2025-era subscription ends with its session: forgotten, and its job no longer watched for it."""
    connection = getattr(session, "_connection", None)  # the low-level context offers no public way to it yet

    def drop() -> None:
        subscribers = server.legacy.get(uri)
        if subscribers is None or session not in subscribers:
            return
        subscribers.discard(session)
        if not subscribers:
            del server.legacy[uri]
        try:
            server.runtime.service.tracker.unwatch(local_id)
        except RuntimeError:  # the server stopped first
            pass

    if connection is not None:
        connection.exit_stack.callback(drop)


async def _unsubscribe(server: PikaServer, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
    await server.ready()
    if ctx.session in server.legacy.get(params.uri, ()):
        server.legacy[params.uri].discard(ctx.session)
        if (job := job_for_uri(server, params.uri)) is not None:
            server.runtime.service.tracker.unwatch(job.local_id)
    return EmptyResult()


async def publish(server: PikaServer, job: Job) -> None:
    """Every status change: to 2026-era listeners through the bus, to 2025-era subscribers per session."""
    uris = {job_uri(job.local_id), job_uri(job.job_id)}
    for uri in uris:
        await server.bus.publish(ResourceUpdated(uri=uri))
        for session in list(server.legacy.get(uri, ())):
            try:
                await session.send_resource_updated(uri)
            except Exception:  # a closed session: forget it
                server.legacy[uri].discard(session)
    await server.bus.publish(ResourceUpdated(uri="pika://jobs"))


class _WatchingListen(ListenHandler):
    """The SDK's subscriptions/listen, plus quick tracking of the jobs a 2026-era client listens to."""

    def __init__(self, server: PikaServer) -> None:
        super().__init__(server.bus)
        self._server = server

    async def __call__(self, ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        await self._server.ready()
        uris = (params.notifications.resource_subscriptions or []) if params.notifications else []
        owned = {u: job_for_uri(self._server, u) for u in uris}
        # pika://jobs changes with everyone's jobs: with several people (HTTP tokens) it is not offered
        shared_list = JOBS_URI if not self._server.several_people else None
        honored = [u for u in uris if u == shared_list or owned[u] is not None]
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

"""Jobs as resources (pika://jobs, pika://jobs/{job_id}, its poster) and their subscriptions on both protocol eras."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.subscriptions import ListenHandler, ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)

from pika_mcp.errors import PikaError
from pika_mcp.job import Job
from pika_mcp.server.owner import owner_of
from pika_mcp.view import job_uri

if TYPE_CHECKING:
    from pika_mcp.server.app import PikaServer

JOBS_URI = "pika://jobs"
MAX_LISTENERS = 1024  # open subscriptions/listen streams at once, as the SDK's own handler bounds them


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
    job = None if params.uri == JOBS_URI else job_for_uri(server, params.uri)
    if job is None and params.uri != JOBS_URI:
        raise_not_found(params.uri)
    if (key := connection_of(ctx.session)) not in server.legacy[params.uri]:
        server.legacy[params.uri][key] = (ctx.session, owner_of())
        if job is not None:
            server.runtime.service.tracker.watch(job.local_id)
        _drop_when_closed(server, ctx.session, params.uri, job.local_id if job is not None else None)
    return EmptyResult()


def connection_of(session: Any) -> Any:
    """What stays the same across one client's requests: its connection (the SDK makes a session object per
    request, and offers no public way to the connection yet)."""
    return getattr(session, "_connection", None) or session


def _drop_when_closed(server: PikaServer, session: Any, uri: str, local_id: str | None) -> None:
    """A 2025-era subscription ends with its session: forgotten, and its job no longer watched for it."""
    connection = connection_of(session)

    def drop() -> None:
        subscribers = server.legacy.get(uri)
        if subscribers is None or connection not in subscribers:
            return
        subscribers.pop(connection, None)
        if not subscribers:
            del server.legacy[uri]
        if local_id is None:
            return
        try:
            server.runtime.service.tracker.unwatch(local_id)
        except RuntimeError:  # the server stopped first
            pass

    if hasattr(connection, "exit_stack"):
        connection.exit_stack.callback(drop)


async def _unsubscribe(server: PikaServer, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
    await server.ready()
    if server.legacy.get(params.uri, {}).pop(connection_of(ctx.session), None) is not None:
        if (job := job_for_uri(server, params.uri)) is not None:
            server.runtime.service.tracker.unwatch(job.local_id)
    return EmptyResult()


@dataclass(frozen=True)
class OwnedUpdate(ResourceUpdated):
    """A resource update that only its owner hears (pika://jobs is one URI with a different meaning per person)."""

    owner: str = ""


async def publish(server: PikaServer, job: Job) -> None:
    """Every status change: to 2026-era listeners through the bus, to 2025-era subscribers per session; only to its owner."""
    for uri in dict.fromkeys((job_uri(job.local_id), job_uri(job.job_id), JOBS_URI)):
        await server.bus.publish(OwnedUpdate(uri=uri, owner=job.owner))
        for key, (session, owner) in list(server.legacy.get(uri, {}).items()):
            if owner != job.owner:
                continue
            try:
                await session.send_resource_updated(uri)
            except Exception:  # a closed session: forget it
                server.legacy[uri].pop(key, None)


class _OwnersBus:
    """The server's bus as one person sees it: updates of other people's jobs are not delivered."""

    def __init__(self, bus: Any, owner: str) -> None:
        self._bus, self._owner = bus, owner

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        def deliver(event: Any) -> None:
            if not isinstance(event, OwnedUpdate) or event.owner == self._owner:
                listener(event)

        return self._bus.subscribe(deliver)  # type: ignore[no-any-return]

    async def publish(self, event: Any) -> None:
        await self._bus.publish(event)


class _WatchingListen:
    """The SDK's subscriptions/listen, scoped to the caller's own jobs, plus quick tracking of the jobs listened to."""

    def __init__(self, server: PikaServer) -> None:
        self._server = server
        self._open = 0

    async def __call__(self, ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        await self._server.ready()
        if self._open >= MAX_LISTENERS:
            raise MCPError(code=INTERNAL_ERROR, message="Subscription limit reached")
        owner = owner_of()
        uris = (params.notifications.resource_subscriptions or []) if params.notifications else []
        owned = {u: job_for_uri(self._server, u) for u in uris}
        honored = [u for u in uris if u == JOBS_URI or owned[u] is not None]
        if params.notifications is not None and honored != uris:  # another person's job is simply unknown
            notifications = params.notifications.model_copy(update={"resource_subscriptions": honored})
            params = params.model_copy(update={"notifications": notifications})
        jobs = [j for j in owned.values() if j is not None]
        tracker = self._server.runtime.service.tracker
        for j in jobs:
            tracker.watch(j.local_id)
        self._open += 1
        try:
            return await ListenHandler(_OwnersBus(self._server.bus, owner))(ctx, params)
        finally:
            self._open -= 1
            for j in jobs:
                tracker.unwatch(j.local_id)


def raise_not_found(uri: str) -> None:
    raise MCPError(code=INVALID_PARAMS, message=f"No job at {uri}.", data={"uri": uri})

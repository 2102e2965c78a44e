"""Subscriptions to job resources on both protocol eras, each update delivered only to the job's owner."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)

from pika_mcp.job import Job
from pika_mcp.jobs import JobService
from pika_mcp.server.edge import Ready
from pika_mcp.server.owner import owner_of
from pika_mcp.server.resources import JOBS_URI, job_for_uri
from pika_mcp.view import job_uri

MAX_LISTENERS = 1024  # open subscriptions/listen streams at once, as the SDK's own handler bounds them


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


@dataclass(frozen=True)
class OwnedUpdate(ResourceUpdated):
    """A resource update that only its owner hears (pika://jobs is one URI with a different meaning per person)."""

    owner: str = ""


def connection_of(session: Any) -> Any:
    """What stays the same across one client's requests: its connection (the SDK makes a session object per
    request, and offers no public way to the connection yet)."""
    return getattr(session, "_connection", None) or session


class Subscriptions:
    """Who is subscribed to which job resource: 2026-era listeners through the bus, 2025-era subscribers per session."""

    def __init__(self, ready: Ready) -> None:
        self._ready = ready
        self.bus = QuietBus()
        # 2025-era: uri -> {connection: (the session to send on, the person who subscribed)}; keyed by connection
        # (the SDK makes a new session object for every request)
        self.legacy: dict[str, dict[Any, tuple[Any, str]]] = defaultdict(dict)
        self._listening = 0

    def install(self, low: Server[Any], *, legacy: bool) -> None:
        """The request handlers; `legacy=False` (a sessionless server has no session to send resources/updated on)
        leaves 2025-era resources/subscribe out."""
        if legacy:
            low.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
            low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe)
        low.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, self._listen)

    async def publish(self, job: Job) -> None:
        """Every status change: to 2026-era listeners through the bus, to 2025-era subscribers per session; only to its owner."""
        for uri in dict.fromkeys((job_uri(job.local_id), job_uri(job.job_id), JOBS_URI)):
            await self.bus.publish(OwnedUpdate(uri=uri, owner=job.owner))
            for key, (session, owner) in list(self.legacy.get(uri, {}).items()):
                if owner != job.owner:
                    continue
                try:
                    await session.send_resource_updated(uri)
                except Exception:  # a closed session: forget it
                    self.legacy[uri].pop(key, None)

    async def _subscribe(self, ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        service = (await self._ready()).service
        job = None if params.uri == JOBS_URI else job_for_uri(service, params.uri)
        if job is None and params.uri != JOBS_URI:
            raise MCPError(code=INVALID_PARAMS, message=f"No job at {params.uri}.", data={"uri": params.uri})
        if (key := connection_of(ctx.session)) not in self.legacy[params.uri]:
            self.legacy[params.uri][key] = (ctx.session, owner_of())
            if job is not None:
                service.watch(job.local_id)
            self._drop_when_closed(service, ctx.session, params.uri, job.local_id if job is not None else None)
        return EmptyResult()

    def _drop_when_closed(self, service: JobService, session: Any, uri: str, local_id: str | None) -> None:
        """A 2025-era subscription ends with its session: forgotten, and its job no longer watched for it."""
        connection = connection_of(session)

        def drop() -> None:
            subscribers = self.legacy.get(uri)
            if subscribers is None or connection not in subscribers:
                return
            subscribers.pop(connection, None)
            if not subscribers:
                del self.legacy[uri]
            if local_id is not None:
                service.unwatch(local_id)

        if hasattr(connection, "exit_stack"):
            connection.exit_stack.callback(drop)

    async def _unsubscribe(self, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        service = (await self._ready()).service
        if self.legacy.get(params.uri, {}).pop(connection_of(ctx.session), None) is not None:
            if (job := job_for_uri(service, params.uri)) is not None:
                service.unwatch(job.local_id)
        return EmptyResult()

    async def _listen(self, ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        """The SDK's subscriptions/listen, scoped to the caller's own jobs, plus quick tracking of the jobs listened to."""
        service = (await self._ready()).service
        if self._listening >= MAX_LISTENERS:
            raise MCPError(code=INTERNAL_ERROR, message="Subscription limit reached")
        owner = owner_of()
        uris = (params.notifications.resource_subscriptions or []) if params.notifications else []
        owned = {u: job_for_uri(service, u) for u in uris}
        honored = [u for u in uris if u == JOBS_URI or owned[u] is not None]
        if params.notifications is not None and honored != uris:  # another person's job is simply unknown
            notifications = params.notifications.model_copy(update={"resource_subscriptions": honored})
            params = params.model_copy(update={"notifications": notifications})
        jobs = [j for j in owned.values() if j is not None]
        for j in jobs:
            service.watch(j.local_id)
        self._listening += 1
        try:
            return await ListenHandler(_OwnersBus(self.bus, owner))(ctx, params)
        finally:
            self._listening -= 1
            for j in jobs:
                service.unwatch(j.local_id)


class _OwnersBus:
    """The server's bus as one person sees it: updates of other people's jobs are not delivered."""

    def __init__(self, bus: QuietBus, owner: str) -> None:
        self._bus, self._owner = bus, owner

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        def deliver(event: Any) -> None:
            if not isinstance(event, OwnedUpdate) or event.owner == self._owner:
                listener(event)

        return self._bus.subscribe(deliver)

    async def publish(self, event: Any) -> None:
        await self._bus.publish(event)

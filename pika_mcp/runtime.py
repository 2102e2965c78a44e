"""The running collaborators of one server: HTTP client, embedded sandbox, ledger, job service and tracker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2

from pika_mcp import fleet
from pika_mcp.errors import ConfigError
from pika_mcp.files import FilePolicy
from pika_mcp.inputs import Inputs
from pika_mcp.jobs import ADOPT_EVERY, JobService
from pika_mcp.liveness import Liveness, Presence
from pika_mcp.origins import Origins
from pika_mcp.outputs import Outputs
from pika_mcp.owners import migrate, private_home
from pika_mcp.queue import FalQueue
from pika_mcp.retry import RetryPolicy
from pika_mcp.settings import Settings
from pika_mcp.storage import FalStorage
from pika_mcp.store import Store

log = logging.getLogger(__name__)

# fal answers submit, status and cancel at once; a minute covers a slow network. Downloads stream.
HTTP_TIMEOUT = httpx2.Timeout(60.0, connect=10.0)
SANDBOX_KEY = "sandbox"  # the sandbox wants a Key header like fal, any value


@dataclass
class Runtime:
    settings: Settings
    http: httpx2.AsyncClient
    ledger: Store
    service: JobService
    inputs: Inputs
    queue_url: str
    rest_url: str
    origins: Origins  # what downloads trust as configured: the queue's, the REST API's, storage's base_url once known


def file_policy(settings: Settings, *, remote: bool, chosen: frozenset[Path] = frozenset()) -> FilePolicy | None:
    """stdio: the user's home unless PIKA_MCP_ALLOWED_DIRS says otherwise; HTTP: nothing unless it is set.
    `chosen`: files a person named on the command line (`pika-mcp generate`), readable wherever they are."""
    if settings.allowed_dirs is None:
        return None if remote else FilePolicy((Path.home(),), settings.output_dir, chosen)
    return FilePolicy(settings.allowed_dirs, settings.output_dir, chosen)


@asynccontextmanager
async def start(
    settings: Settings,
    *,
    remote: bool = False,
    http: httpx2.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
    chosen: frozenset[Path] = frozenset(),
) -> AsyncIterator[Runtime]:
    """Start everything a server needs; on exit the tracker stops and in-flight ledger writes finish."""
    async with AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(httpx2.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=True))
        queue_url, rest_url = settings.queue_url, settings.rest_url
        fleet.refuse_embedded_sandbox(settings)  # peers on one database share one fal
        if settings.embedded_sandbox:
            from pika_mcp.embedded import embedded_sandbox  # off the start path unless needed

            queue_url = rest_url = await stack.enter_async_context(embedded_sandbox(settings.home, http))
        if queue_url is None or rest_url is None:
            raise ConfigError("No fal queue URL: set PIKA_MCP_QUEUE_URL or use the embedded sandbox.")
        ledger: Store = fleet.open_store(settings, poster_dir=settings.home / "posters")
        stack.callback(ledger.close)
        if settings.tokens and (moved := migrate(ledger, fleet.shared_owner_key(settings), settings.tokens)):
            log.info("moved %d job(s) to keyed owner ids", moved)
        key = settings.fal_key if settings.backend == "fal" else SANDBOX_KEY  # the real key only ever goes to fal
        retry = retry or RetryPolicy()
        # The key goes only to the configured origins; downloads trust those and the storage base_url as configured.
        fetched = Origins([queue_url, rest_url])
        queue = FalQueue(
            http, queue_url, key, relative=settings.embedded_sandbox, policy=retry, key_origins=Origins([queue_url, rest_url])
        )
        outputs = Outputs(
            http=http, output_dir=settings.output_dir, poster_dir=settings.home / "posters", policy=retry, origins=fetched
        )
        stack.push_async_callback(outputs.measurer.aclose)  # the measuring child ends with the server
        storage = FalStorage(http, rest_url, key, policy=retry, origins=fetched)
        inputs = Inputs(file_policy(settings, remote=remote, chosen=chosen), storage, ledger, origin=rest_url, trusted=fetched)
        shared, lease, watches = fleet.shared_store(ledger), None, None
        if shared is not None:  # a peer of a fleet: a lease in the database instead of a lock file in the home
            lease = stack.enter_context(fleet.PeerLease(shared, settings.lease_seconds))
            watches = fleet.RemoteWatches(shared)
        liveness: Presence = lease or stack.enter_context(Liveness(settings.home / "trackers"))
        adopt_every = min(ADOPT_EVERY, settings.lease_seconds * fleet.ADOPT_SHARE) if lease else ADOPT_EVERY
        service = JobService(
            ledger,
            queue,
            backend=settings.backend,
            budget_usd=settings.budget_usd,
            outputs=outputs,
            resolve_media=inputs.resolve,
            content_of=inputs.content_of,
            liveness=liveness,
            adopt_every=adopt_every,
            remote=watches,
        )
        runtime = Runtime(settings, http, ledger, service, inputs, queue_url, rest_url, fetched)
        private_home(settings.home)  # 0700/0600 where the platform has modes, a home from earlier versions included
        async with anyio.create_task_group() as tg:
            tg.start_soon(service.tracker.run)
            tg.start_soon(service.save_forever)
            tg.start_soon(outputs.measurer.stop_when_idle)
            tg.start_soon(service.adopt_forever)
            tg.start_soon(service.recover_downloads)
            if shared is not None and lease is not None and watches is not None:
                tg.start_soon(lease.renew_forever, service.tracker.forget)
                tg.start_soon(watches.renew_forever)
                tg.start_soon(fleet.listen_forever, shared, service)
            recovered = await service.recover()
            if recovered:
                log.info("tracking %d unfinished job(s) again", recovered)
            yield runtime
            tg.cancel_scope.cancel()

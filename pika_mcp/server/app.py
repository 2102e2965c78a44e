"""The MCP server: built by `build_server` from its collaborators; wires the tools, resources and subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer

from pika_mcp import __version__
from pika_mcp.retry import RetryPolicy
from pika_mcp.server import apps, resources
from pika_mcp.server.edge import Edge
from pika_mcp.server.lifecycle import Lifecycle, Start, State
from pika_mcp.server.subscriptions import Subscriptions
from pika_mcp.server.tools import all_tools, selected
from pika_mcp.settings import Settings

INSTRUCTIONS = (
    "Make videos with Pika on fal.ai. Each generation tool starts a paid job and waits up to wait_seconds; "
    "if the job is not finished, call pika_wait_for_job(job_id) until it is. Never start the same job again "
    "to 'retry' a wait: the job keeps running. Jobs are also resources at pika://jobs/{job_id}."
)


class PikaServer:
    """The MCPServer (`mcp`), the lifecycle of its runtime, and the subscriptions its job changes are published to."""

    def __init__(
        self,
        settings: Settings,
        start: Start,
        *,
        token_verifier: Any = None,
        auth: Any = None,
        legacy_subscriptions: bool = True,
    ) -> None:
        self.settings = settings
        self.lifecycle = Lifecycle(start, on_start=self._started)
        self.subscriptions = Subscriptions(self.lifecycle.ready)
        ready = self.lifecycle.ready
        self.mcp = MCPServer(
            "pika-mcp",
            title="Pika video generation (fal.ai)",
            version=__version__,
            instructions=INSTRUCTIONS,
            tools=apps.bind([t for t in all_tools(ready, settings.wait_seconds) if selected(t.name, settings.tools)]),
            extensions=[apps.apps_extension(settings, ready)],  # the job player and gallery (MCP Apps)
            lifespan=self._lifespan,
            subscriptions=self.subscriptions.bus,
            token_verifier=token_verifier,  # HTTP only: one bearer token per person (server/http.py)
            auth=auth,
        )
        resources.install(self.mcp, ready)
        # The SDK has no public hook yet for 2025-era subscriptions: they go on its low-level server.
        self.subscriptions.install(self.mcp._lowlevel_server, legacy=legacy_subscriptions)

    def _started(self, edge: Edge) -> None:
        edge.service.listeners.append(self.subscriptions.publish)

    @asynccontextmanager
    async def _lifespan(self, _: MCPServer) -> AsyncIterator[None]:
        async with self.lifecycle.running():
            yield

    @property
    def state(self) -> State:
        """`starting`, `ready` or `failed`: what /healthz reports."""
        return self.lifecycle.state


def build_server(
    settings: Settings,
    start: Start | None = None,
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

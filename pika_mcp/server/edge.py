"""What the tools and resources use once the server runs, and the one wrapper that waits for it and refuses errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult

from pika_mcp.errors import PikaError
from pika_mcp.inputs import Inputs
from pika_mcp.jobs import JobService
from pika_mcp.server.results import Results, refusal


@dataclass(frozen=True)
class Edge:
    """The running collaborators a handler uses: the job service, the uploader and the result renderer."""

    service: JobService
    inputs: Inputs
    results: Results
    queue_url: str = ""  # where fal (or the sandbox) answers: the job player's media origins come from these
    rest_url: str = ""
    origins: Iterable[str] = ()  # and from these: the origins downloads trust (storage's base_url once known)


Ready = Callable[[], Awaitable[Edge]]  # waits until the runtime has started; raises ConfigError if it could not
Handler = Callable[[dict[str, Any], Context], Awaitable[CallToolResult]]  # a tool's function, as the SDK calls it
Body = Callable[[Edge, dict[str, Any], Context], Awaitable[CallToolResult]]


def guarded(ready: Ready, body: Body) -> Handler:
    """A tool handler that waits for the runtime, then runs `body`; a PikaError becomes an isError refusal."""

    async def handle(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        try:
            return await body(await ready(), arguments, ctx)
        except PikaError as exc:
            return refusal(exc)

    return handle

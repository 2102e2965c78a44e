"""How injected faults behave on the wire: an error answer, a reset connection, or no answer at all.

A real reset needs the socket, which ASGI does not expose: `serve.py` runs uvicorn with an h11
protocol that puts an abort function in `scope["extensions"][ABORT_EXTENSION]`. Raising inside
the app is no reset over uvicorn (it answers 500), so without the extension `reset` raises
`ConnectionResetError` to whoever calls the app in-process.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import anyio
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope

from pika_mcp.sandbox.config import Fault

ABORT_EXTENSION = "pika_mcp.sandbox.abort"


def abort_transport(transport: asyncio.Transport) -> None:
    """Close a connection with a TCP reset (SO_LINGER 0), not a graceful FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:  # a socket family without linger still gets aborted below
            pass
    transport.abort()


def http_answer(fault: Fault) -> Response:
    body: dict[str, object] = {"detail": fault.detail}
    headers = dict(fault.headers)
    if fault.error_type is not None:
        body["error_type"] = fault.error_type
        headers.setdefault("X-Fal-Error-Type", fault.error_type)
    return JSONResponse(body, status_code=fault.status, headers=headers)


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def reset(scope: Scope, receive: Receive) -> None:
    """Reset the connection and wait until the server has noticed, so no answer follows."""
    abort = (scope.get("extensions") or {}).get(ABORT_EXTENSION)
    if abort is None:
        raise ConnectionResetError("The sandbox reset this connection (an injected fault).")
    abort()
    await until_disconnect(receive)


async def hang(scope: Scope, receive: Receive, stopped: Callable[[], Awaitable[None]]) -> None:
    """Answer nothing until the client goes away or the sandbox stops, then reset."""
    async with anyio.create_task_group() as group:

        async def watch_client() -> None:
            await until_disconnect(receive)
            group.cancel_scope.cancel()

        group.start_soon(watch_client)
        await stopped()
        group.cancel_scope.cancel()
    await reset(scope, receive)

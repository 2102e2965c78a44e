"""The sandbox's routes: each a keyword record (path, handler, methods, op); served by recording the request,
applying any injected fault, then running the handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from pika_mcp.sandbox.faults import hang, http_answer, reset
from pika_mcp.sandbox.host import Host
from pika_mcp.sandbox.record import receive_record

Handler = Callable[[Host, Request], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    """One route the sandbox serves."""

    path: str
    handler: Handler
    methods: tuple[str, ...]
    op: str | None = None  # counted and open to injected faults under this name; None: a control route
    buffered: bool = True  # False: the handler streams the request body (uploads), so it is recorded unread


class OpRoute:
    """The ASGI app behind one route; `op` names it for counts and faults (None: control routes)."""

    def __init__(self, sandbox: Host, handler: Handler, op: str | None, buffered: bool = True) -> None:
        self.sandbox, self.handler, self.op, self.buffered = sandbox, handler, op, buffered

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sandbox = self.sandbox
        request = Request(scope, receive)
        fault = None
        if self.op is not None:
            sandbox.record(await receive_record(request, self.op, self.buffered))
            sandbox.counts[self.op] += 1
            fault = sandbox.config.take_fault(self.op)
        if fault is not None and fault.kind == "http":
            await http_answer(fault)(scope, receive, send)
            return
        if fault is not None and fault.kind == "reset":
            await reset(scope, receive)
            return
        if fault is not None and fault.kind == "hang":
            await hang(scope, receive, sandbox.wait_stopped)
            return
        if fault is not None and fault.kind == "slow":
            await anyio.sleep(fault.delay_seconds)
        response = await self.handler(sandbox, request)
        if fault is not None and fault.kind == "lost_answer":
            await reset(scope, receive)
            return
        await response(scope, receive, send)

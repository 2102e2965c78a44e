"""Control routes under `/_sandbox/` for tests and people: health, recorded requests, switches."""

from __future__ import annotations

from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pika_mcp.sandbox.access import control_refused
from pika_mcp.sandbox.config import Fault
from pika_mcp.sandbox.host import Host
from pika_mcp.sandbox.queue import base_url
from pika_mcp.sandbox.record import parse_json
from pika_mcp.sandbox.route import Handler


def controlled(handler: Handler) -> Handler:
    """A control route: only for callers with the sandbox's token, and JSON bodies only (a cross-site page can post
    text/plain and forms without asking first)."""

    @wraps(handler)
    async def checked(sandbox: Host, request: Request) -> Response:
        if (refused := control_refused(sandbox.control_token, request)) is not None:
            return refused
        return await handler(sandbox, request)

    return checked


async def health(sandbox: Host, request: Request) -> Response:
    return JSONResponse({"status": "ok", "base_url": base_url(request), "jobs": len(sandbox.store.request_ids())})


@controlled
async def requests(sandbox: Host, request: Request) -> Response:
    recorded = [entry.to_json() for entry in sandbox.received]
    return JSONResponse({"requests": recorded, "counts": dict(sandbox.counts)})


@controlled
async def jobs(sandbox: Host, request: Request) -> Response:
    return JSONResponse({"jobs": sandbox.store.request_ids()})


@controlled
async def config(sandbox: Host, request: Request) -> Response:
    """GET shows the switches; POST a JSON object of switches to change them."""
    if request.method == "POST":
        data = parse_json(await request.body())
        try:
            sandbox.config.update(data if isinstance(data, dict) else {})
        except (TypeError, ValueError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        sandbox.changes.notify()
    return JSONResponse(sandbox.config.to_json())


@controlled
async def faults(sandbox: Host, request: Request) -> Response:
    """Add faults: one fault object, a list of them, or `{"faults": [...]}`."""
    data: Any = parse_json(await request.body())
    items = data.get("faults", [data]) if isinstance(data, dict) else data
    try:
        added = [Fault(**item) for item in items]
    except (TypeError, ValueError) as exc:
        return JSONResponse({"detail": f"Invalid fault: {exc}"}, status_code=400)
    sandbox.config.faults.extend(added)
    return JSONResponse({"faults": sandbox.config.to_json()["faults"]})


@controlled
async def reset(sandbox: Host, request: Request) -> Response:
    sandbox.reset()
    return JSONResponse({"status": "ok"})

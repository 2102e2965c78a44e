"""Control routes under `/_sandbox/` for tests and people: health, recorded requests, switches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pika_mcp.sandbox.config import Fault
from pika_mcp.sandbox.queue import base_url
from pika_mcp.sandbox.record import parse_json

if TYPE_CHECKING:
    from pika_mcp.sandbox.app import Sandbox


async def health(sandbox: Sandbox, request: Request) -> Response:
    return JSONResponse(
        {"status": "ok", "base_url": base_url(request), "jobs": len(sandbox.store.request_ids())}
    )


async def requests(sandbox: Sandbox, request: Request) -> Response:
    recorded = [entry.to_json() for entry in sandbox.received]
    return JSONResponse({"requests": recorded, "counts": dict(sandbox.counts)})


async def jobs(sandbox: Sandbox, request: Request) -> Response:
    return JSONResponse({"jobs": sandbox.store.request_ids()})


async def config(sandbox: Sandbox, request: Request) -> Response:
    """GET shows the switches; POST a JSON object of switches to change them."""
    if request.method == "POST":
        data = parse_json(await request.body())
        try:
            sandbox.config.update(data if isinstance(data, dict) else {})
        except (TypeError, ValueError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        sandbox.changes.notify()
    return JSONResponse(sandbox.config.to_json())


async def faults(sandbox: Sandbox, request: Request) -> Response:
    """Add faults: one fault object, a list of them, or `{"faults": [...]}`."""
    data: Any = parse_json(await request.body())
    items = data.get("faults", [data]) if isinstance(data, dict) else data
    try:
        added = [Fault(**item) for item in items]
    except (TypeError, ValueError) as exc:
        return JSONResponse({"detail": f"Invalid fault: {exc}"}, status_code=400)
    sandbox.config.faults.extend(added)
    return JSONResponse({"faults": sandbox.config.to_json()["faults"]})


async def reset(sandbox: Sandbox, request: Request) -> Response:
    sandbox.reset()
    return JSONResponse({"status": "ok"})

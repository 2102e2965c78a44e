"""What the sandbox received: every request as tests assert on it, and a count per operation."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request


@dataclass(frozen=True)
class ReceivedRequest:
    """One request: method, path, query, lower-cased headers, JSON body (None if not JSON)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    op: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


async def receive_record(request: Request, op: str | None, buffered: bool) -> ReceivedRequest:
    """Record a request; reads (and caches) the body only when `buffered`, never an upload."""
    body = parse_json(await request.body()) if buffered else None
    return ReceivedRequest(
        method=request.method,
        path=request.url.path,
        query=dict(request.query_params),
        headers={name.lower(): value for name, value in request.headers.items()},
        json=body,
        op=op,
    )

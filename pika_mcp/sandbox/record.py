"""What the sandbox received: recent requests as tests assert on them, credentials fingerprinted, never kept."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request

# Headers that carry a credential: recorded as a fingerprint, so tests can tell which key was sent and nothing that
# reads the record (`/_sandbox/requests`, a log, a test's failure output) ever holds the key itself.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-sandbox-token", "cookie", "x-fal-key"})
FINGERPRINT_HEX = 16


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


def fingerprint(credential: str) -> str:
    """`Key sha256:1f2e…` for `Key abc`: the scheme kept, the rest a SHA-256 prefix; a bare value is all fingerprint."""
    scheme, space, rest = credential.partition(" ")
    secret = rest if space else scheme
    digest = hashlib.sha256(secret.strip().encode()).hexdigest()[:FINGERPRINT_HEX]
    return f"{scheme} sha256:{digest}" if space else f"sha256:{digest}"


def _recorded(name: str, value: str) -> str:
    return fingerprint(value) if name in CREDENTIAL_HEADERS else value


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
        headers={name.lower(): _recorded(name.lower(), value) for name, value in request.headers.items()},
        json=body,
        op=op,
    )

"""Who may use the sandbox: the control token kept in its state folder, the Host check, JSON-only control posts.

Control routes (`/_sandbox/*` but health) change faults and show recorded requests, so they need the token, which
a web page cannot read or send without a preflight; the Host check stops a page that rebinds its name to loopback.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_FILE = "control-token"
ADDRESS_FILE = "address.json"
TOKEN_HEADER = "X-Sandbox-Token"
TOKEN_BYTES = 32
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
JSON_TYPE = "application/json"
NO_TOKEN = f"Send the sandbox's control token as the header {TOKEN_HEADER}; it is in the file {TOKEN_FILE} of its state folder."
NOT_JSON = f"Control routes take JSON bodies only: send Content-Type: {JSON_TYPE}."


def control_token(state_dir: Path) -> str:
    """This state folder's token: made once (0600 where the platform has modes), then the same across restarts."""
    path = state_dir / TOKEN_FILE
    if (found := read_token(path)) is not None:
        return found
    token = secrets.token_urlsafe(TOKEN_BYTES)
    temporary = path.with_name(f".{TOKEN_FILE}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(token)
        os.link(temporary, path)  # never over a token another process made a moment ago
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: a plain rename, over nothing if we can help it
        if not path.exists():
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    found = read_token(path)
    if found is None:
        raise OSError(f"Could not read the sandbox's control token back from {path}.")
    return found


def read_token(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_address(state_dir: Path, base_url: str) -> None:
    (state_dir / ADDRESS_FILE).write_text(json.dumps({"base_url": base_url}))


def read_address(state_dir: Path) -> str:
    return str(json.loads((state_dir / ADDRESS_FILE).read_text())["base_url"])


def control_refused(token: str, request: Request) -> Response | None:
    """Why a control request is refused (no token, wrong token, a body that is not JSON), or None."""
    sent = request.headers.get(TOKEN_HEADER, "")
    if not secrets.compare_digest(sent.encode(), token.encode()):
        return JSONResponse({"detail": NO_TOKEN}, status_code=401)
    if request.method == "POST" and _media_type(request.headers) != JSON_TYPE:
        return JSONResponse({"detail": NOT_JSON}, status_code=415)
    return None


def _media_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def split_host(value: str) -> tuple[str, str | None]:
    """`name`, `name:port`, `[v6]:port` or a full origin, as (lower-case host without brackets, port or None)."""
    value = value.strip().rstrip("/").lower()
    for scheme in ("http://", "https://"):
        value = value.removeprefix(scheme)
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest.removeprefix(":") or None
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, port or None
    return value, None


class HostCheck:
    """ASGI middleware: answer 421 to a Host that is not the address the request came in on, a loopback name, or an
    extra allowed host (`PIKA_MCP_ALLOWED_HOSTS`: `name`, `name:port` or an origin)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = [split_host(h) for h in allowed_hosts if h.strip()]

    def allows(self, host_header: str, server: tuple[str, int | None] | None) -> bool:
        host, port = split_host(host_header)
        if not host:
            return False
        if host in LOOPBACK_NAMES or (server is not None and host == server[0].lower()):
            return True
        return any(host == name and (want is None or want == port) for name, want in self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allows(Headers(scope=scope).get("host", ""), scope.get("server")):
            detail = "This sandbox does not answer to that Host; add the name to PIKA_MCP_ALLOWED_HOSTS if it is yours."
            await JSONResponse({"detail": detail}, status_code=421)(scope, receive, send)
            return
        await self.app(scope, receive, send)

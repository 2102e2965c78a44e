"""CORS for `serve --http`: browser-based hosts on the origins the Origin check allows may call /mcp."""

from __future__ import annotations

import re
from typing import Any

# What a browser MCP client sends (the bearer token, JSON-RPC, the protocol and session headers, SSE resumption),
# and the session id it must read back to keep its session.
ALLOWED_HEADERS = ["Authorization", "Content-Type", "Accept", "Mcp-Protocol-Version", "Mcp-Session-Id", "Last-Event-ID"]
EXPOSED_HEADERS = ["Mcp-Session-Id"]
METHODS = ["GET", "POST", "DELETE"]
PREFLIGHT_CACHE_SECONDS = 600


def origin_pattern(origins: list[str]) -> str:
    """One regular expression for the Origin check's list, whose `:*` entries mean any port."""
    return "|".join(re.escape(o).replace(r":\*", r":[0-9]{1,5}") for o in origins)


def with_cors(app: Any, origins: list[str]) -> Any:
    """Answer preflights and mark answers for exactly those origins; any other origin gets no CORS headers (and the
    Origin check refuses its requests). No credentials mode: the token travels in Authorization, never in cookies."""
    from starlette.middleware.cors import CORSMiddleware

    app.add_middleware(CORSMiddleware, allow_origin_regex=origin_pattern(origins), allow_methods=METHODS,
                       allow_headers=ALLOWED_HEADERS, expose_headers=EXPOSED_HEADERS, max_age=PREFLIGHT_CACHE_SECONDS)  # fmt: skip
    return app

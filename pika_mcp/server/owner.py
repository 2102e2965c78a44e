"""Who is calling: a hash of their HTTP bearer token, or the one local owner over stdio."""

from __future__ import annotations

import hashlib

from mcp.server.auth.middleware.auth_context import get_access_token

from pika_mcp.ledger import LOCAL_OWNER


def owner_of() -> str:
    """The person behind this request; every ledger query is scoped by it."""
    token = get_access_token()
    if token is None:
        return LOCAL_OWNER
    return "t-" + hashlib.sha256(token.token.encode()).hexdigest()[:24]

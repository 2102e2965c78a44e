"""Who is calling: the owner id of their HTTP bearer token (pika_mcp.owners), or the one local owner over stdio."""

from __future__ import annotations

from mcp.server.auth.middleware.auth_context import get_access_token

from pika_mcp.job import LOCAL_OWNER


def owner_of() -> str:
    """The person behind this request; every ledger query is scoped by it."""
    token = get_access_token()
    if token is None:
        return LOCAL_OWNER
    return token.client_id  # the keyed owner id StaticTokens gave the token: one id per token everywhere

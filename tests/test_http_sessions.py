"""Shared state one HTTP person can grow: at most 100 open sessions each, and 2025-era subscriptions that end with
their session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client

from pika_mcp.server import build_server
from pika_mcp.server.http import SESSIONS_PER_PERSON
from pika_mcp.settings import Settings
from tests.test_http import TOKEN_A, TOKEN_B, Served, start_server, stop_server

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "many", "version": "1"}},
}  # fmt: skip


def headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = start_server(tmp_path, PIKA_MCP_TOKEN=f"{TOKEN_A},{TOKEN_B}")
    yield server
    assert stop_server(server) == 0, server.log.read_text()


def test_one_person_holds_at_most_100_sessions_and_others_still_connect(served: Served) -> None:
    with httpx2.Client(timeout=60.0) as http:
        opened = []
        for _ in range(SESSIONS_PER_PERSON):
            answer = http.post(served.url, headers=headers(TOKEN_A), json=INITIALIZE)
            assert answer.status_code == 200, answer.text
            opened.append(answer.headers["mcp-session-id"])
        refused = http.post(served.url, headers=headers(TOKEN_A), json=INITIALIZE)
        assert refused.status_code == 429
        assert f"{SESSIONS_PER_PERSON} open sessions" in refused.json()["error"]["message"]
        assert "mcp-session-id" not in refused.headers
        other = http.post(served.url, headers=headers(TOKEN_B), json=INITIALIZE)
        assert other.status_code == 200  # another person is not held back by the first one's sessions
        ended = http.delete(
            served.url, headers=headers(TOKEN_A) | {"Mcp-Session-Id": opened[0], "Mcp-Protocol-Version": "2025-11-25"}
        )
        assert ended.status_code in (200, 204), ended.text
        again = http.post(served.url, headers=headers(TOKEN_A), json=INITIALIZE)
        assert again.status_code == 200, again.text


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore:resources/subscribe is removed:mcp.shared.exceptions.MCPDeprecationWarning")
async def test_a_closed_sessions_subscriptions_are_dropped_with_it(settings: Settings) -> None:
    server = build_server(settings)
    async with Client(server.mcp, mode="legacy") as client:
        made = await client.call_tool("pika_v22_text_to_video", {"prompt": "a fox", "wait_seconds": 0})
        uri = f"pika://jobs/{made.structured_content['job_id']}"  # type: ignore[index]
        await client.subscribe_resource(uri)
        assert len(server.subscriptions.legacy[uri]) == 1
    assert not any(server.subscriptions.legacy.values()), dict(
        server.subscriptions.legacy
    )  # the session is gone: so is its subscription

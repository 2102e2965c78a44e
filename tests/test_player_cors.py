"""`serve --http` answers CORS for the origins its Origin check allows, so browser-based hosts (MCP Apps) connect."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx2
import pytest

from pika_mcp.server.http import build_app
from pika_mcp.settings import Settings

pytestmark = pytest.mark.anyio

ASKED = "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id"


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    env = {"PIKA_MCP_BACKEND": "sandbox", "PIKA_MCP_HOME": str(tmp_path / "home"), "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out")}
    return dataclasses.replace(Settings.from_env(env), **changes)


async def preflight(app: object, origin: str) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8765") as http:
        return await http.options("/mcp", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": ASKED})  # fmt: skip


@pytest.mark.parametrize("origin", ["http://127.0.0.1:5173", "http://localhost:3000", "http://[::1]:8080", "https://localhost"])
async def test_a_loopback_page_may_call_mcp_with_the_headers_a_client_sends(tmp_path: Path, origin: str) -> None:
    answer = await preflight(build_app(settings_for(tmp_path)), origin)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == origin
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert set(ASKED.split(", ")) <= allowed
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in answer.headers


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://127.0.0.1.evil.example:80", "null", "http://localhost.evil:1"]
)
async def test_other_origins_get_no_cors_permission(tmp_path: Path, origin: str) -> None:
    answer = await preflight(build_app(settings_for(tmp_path)), origin)
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


async def test_allowed_hosts_extend_cors_like_the_origin_check(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, allowed_hosts=("studio.example.com",), tokens=("t" * 40,))
    app = build_app(settings, host="0.0.0.0")
    assert (await preflight(app, "https://studio.example.com")).headers[
        "access-control-allow-origin"
    ] == "https://studio.example.com"
    assert "access-control-allow-origin" not in (await preflight(app, "https://other.example.com")).headers


async def test_a_browser_can_read_the_session_id_of_an_answer(tmp_path: Path) -> None:
    app = build_app(settings_for(tmp_path))
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "page", "version": "1"}},
    }
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8765") as http,
    ):
        answer = await http.post("/mcp", json=body, headers={"Origin": "http://localhost:5173",
                                                             "Accept": "application/json, text/event-stream"})  # fmt: skip
    assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert answer.headers["access-control-expose-headers"] == "Mcp-Session-Id" and answer.headers["mcp-session-id"]

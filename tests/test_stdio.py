"""The server as clients launch it: `python -m pika_mcp` over stdio, on both protocol eras."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from pika_mcp.sandbox.record import fingerprint
from tests.conftest import TEST_KEY, Fal, all_tools

pytestmark = pytest.mark.anyio


def server_params(tmp_path: Path, fal: Fal) -> StdioServerParameters:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "FAL_KEY": TEST_KEY,
        "PIKA_MCP_QUEUE_URL": fal.url,
        "PIKA_MCP_REST_URL": fal.url,
        "PIKA_MCP_HOME": str(tmp_path / "home"),
        "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out"),
        "PIKA_MCP_LOG_LEVEL": "WARNING",
    }
    return StdioServerParameters(command=sys.executable, args=["-m", "pika_mcp"], env=env)


async def test_modern_client_over_stdio_makes_a_video(tmp_path: Path, fal: Fal) -> None:
    async with Client(server_params(tmp_path, fal)) as client:
        assert client.protocol_version == "2026-07-28"
        names = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("pika_v22_text_to_video", {"prompt": "over stdio", "wait_seconds": 120})
    assert names == all_tools()
    assert result.structured_content["status"] == "succeeded"
    [submit] = fal.sent("submit")
    assert submit.headers["authorization"] == fingerprint(f"Key {TEST_KEY}")


async def test_legacy_session_initialize_over_stdio_makes_a_video(tmp_path: Path, fal: Fal) -> None:
    async with stdio_client(server_params(tmp_path, fal)) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.protocol_version == "2025-11-25"
        assert init.capabilities.resources is not None and init.capabilities.resources.subscribe is True
        tools = (await session.list_tools()).tools
        assert all(t.output_schema is not None for t in tools)
        result = await session.call_tool("pika_v2_turbo_text_to_video", {"prompt": "legacy", "wait_seconds": 120})
        bad = await session.call_tool("pika_v2_turbo_text_to_video", {"prompt": "legacy", "colour": "red"})
    assert result.structured_content["status"] == "succeeded"
    assert bad.is_error and "colour" in bad.content[0].text
    assert len(fal.sent("submit")) == 1

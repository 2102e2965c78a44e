"""pydantic-ai 2.x: an agent with pika-mcp as an MCPToolset over stdio makes a whole job (a scripted model)."""

from __future__ import annotations

import asyncio
import os

from fastmcp.client.transports import StdioTransport
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai_script import MODEL, report

# --- the README snippet -------------------------------------------------------------------------------
# fmt: off
pika = MCPToolset(
    StdioTransport("pika-mcp", [], env=dict(os.environ)),  # FAL_KEY from the environment; none: the free sandbox
    init_timeout=30,  # seconds to start; the default 5 is short for a first start on a busy machine
    read_timeout=600,  # longer than any wait_seconds / timeout_seconds the model may pass
)
# fmt: on
# --------------------------------------------------------------------------------------------------------


async def main() -> None:
    agent = Agent(MODEL, toolsets=[pika])
    result = await agent.run("Make a short video of a lighthouse at dawn.")
    report("2.x", result.output)


asyncio.run(main())

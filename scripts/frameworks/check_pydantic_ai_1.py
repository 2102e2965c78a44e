"""pydantic-ai 1.x: an agent with pika-mcp as an MCPServerStdio makes a whole job (a scripted model)."""

from __future__ import annotations

import asyncio
import os

from pydantic_ai import Agent
from pydantic_ai.mcp import MCPServerStdio
from pydantic_ai_script import MODEL, report

# --- the README snippet -------------------------------------------------------------------------------
# fmt: off
pika = MCPServerStdio(
    "pika-mcp", args=[], env=dict(os.environ),
    timeout=30,  # seconds to start; the default 5 is short for a first start on a busy machine
    read_timeout=600,  # longer than any wait the model may ask for
)
# fmt: on
# --------------------------------------------------------------------------------------------------------


async def main() -> None:
    agent = Agent(MODEL, toolsets=[pika])
    async with agent:
        result = await agent.run("Make a short video of a lighthouse at dawn.")
    report("1.x", result.output)


asyncio.run(main())

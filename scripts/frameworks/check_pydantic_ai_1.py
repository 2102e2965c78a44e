"""pydantic-ai 1.x: an agent with pika-mcp as an MCPServerStdio makes a whole job (a scripted model)."""

from __future__ import annotations

import asyncio
import os

from pydantic_ai import Agent
from pydantic_ai.mcp import MCPServerStdio
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from scripted import as_text, job_of, next_call

# --- the README snippet -------------------------------------------------------------------------------
# fmt: off
pika = MCPServerStdio(
    "pika-mcp", args=[], env=dict(os.environ),
    timeout=30,  # seconds to start; the default 5 is short for a first start on a busy machine
    read_timeout=600,  # longer than any wait the model may ask for
)
# fmt: on
# --------------------------------------------------------------------------------------------------------

seen: list[str] = []


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    returns = [p for p in messages[-1].parts if isinstance(p, ToolReturnPart)]
    last = as_text(returns[-1].content) if returns else None
    if last is not None:
        seen.append(last)
    call = next_call(last)
    if call is None:
        return ModelResponse(parts=[TextPart("done: " + last)])
    return ModelResponse(parts=[ToolCallPart(call[0], call[1])])


async def main() -> None:
    agent = Agent(FunctionModel(scripted), toolsets=[pika])
    async with agent:
        result = await agent.run("Make a short video of a lighthouse at dawn.")
    job_id, status = job_of(seen[-1])
    assert status == "succeeded", seen[-1]
    print(f"pydantic-ai 1.x: {len(seen)} tool answers, job {job_id} {status}; the model last saw: {seen[-1][:200]!r}")
    print("final output:", result.output[:120])


asyncio.run(main())

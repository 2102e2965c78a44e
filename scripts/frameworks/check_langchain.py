"""langchain-mcp-adapters: pika-mcp's tools loaded on one session make a whole job (tools invoked as a model
would call them); then every answer goes through ChatOpenAI (chat completions and responses) and ChatAnthropic
request builders, with no network."""

from __future__ import annotations

import asyncio
import itertools
import os

from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools
from langchain_openai import ChatOpenAI
from scripted import as_text, job_of, next_call

# --- the README snippet -------------------------------------------------------------------------------
# fmt: off
client = MultiServerMCPClient(
    {"pika": {"transport": "stdio", "command": "pika-mcp", "args": [], "env": dict(os.environ)}}
)
# fmt: on
# --------------------------------------------------------------------------------------------------------

ids = itertools.count(1)


async def main() -> None:
    conversation: list = [HumanMessage("Make a short video of a lighthouse at dawn.")]
    async with client.session("pika") as session:
        tools = {t.name: t for t in await load_mcp_tools(session)}
        seen = None
        while (call := next_call(seen)) is not None:
            name, args = call
            tool_call = {"type": "tool_call", "id": f"call_{next(ids)}", "name": name, "args": args}
            answer: ToolMessage = await tools[name].ainvoke(tool_call)
            assert answer.status != "error", answer.content
            conversation += [AIMessage(content="", tool_calls=[tool_call]), answer]
            seen = as_text(answer.content)
    job_id, status = job_of(seen)
    assert status == "succeeded", seen
    print(f"langchain-mcp-adapters: {len(conversation) // 2} tool answers on one session, job {job_id} {status}")
    print("the model last saw:", seen[:200])
    blocks = sorted({b.get("type", "?") if isinstance(b, dict) else "str" for m in conversation[1:] if isinstance(m, ToolMessage)
                     for b in (m.content if isinstance(m.content, list) else [m.content])})  # fmt: skip
    print("content blocks in the answers:", blocks)
    builders = {
        "ChatOpenAI (chat completions)": ChatOpenAI(model="gpt-4o", api_key="sk-no-network"),
        "ChatOpenAI (responses)": ChatOpenAI(model="gpt-4o", api_key="sk-no-network", use_responses_api=True),
        "ChatAnthropic": ChatAnthropic(model="claude-sonnet-4-5", api_key="sk-no-network"),
    }
    for label, model in builders.items():
        model._get_request_payload(conversation)  # raises on a block the provider cannot take (e.g. "file URLs")
        print(f"  {label}: request built from every answer")


asyncio.run(main())

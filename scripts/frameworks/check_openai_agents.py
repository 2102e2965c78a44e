"""openai-agents: an agent with pika-mcp as an MCPServerStdio (strict schemas) makes a whole job; a scripted model
that answers as a strict model must, with every property present and null where it means to leave one out."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from typing import Any

from agents import Agent, FunctionTool, Runner
from agents.items import ModelResponse
from agents.mcp import MCPServerStdio
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText
from scripted import ARGUMENTS, as_text, job_of, next_call


# --- the README snippet -------------------------------------------------------------------------------
# fmt: off
def pika_server() -> MCPServerStdio:
    return MCPServerStdio(
    params={"command": "pika-mcp", "args": [], "env": dict(os.environ)},
    client_session_timeout_seconds=120,  # the default 5 s cuts every wait: keep it above wait_seconds / timeout_seconds
    cache_tools_list=True,
)
# fmt: on
# --------------------------------------------------------------------------------------------------------

seen: list[str] = []
ids = itertools.count(1)


def strict_arguments(tool: FunctionTool, wanted: dict[str, Any]) -> dict[str, Any]:
    """What a strict model sends: every property (strict mode requires them all); null where it may, else the default."""
    schema = tool.params_json_schema
    assert tool.strict_json_schema and set(schema["required"]) == set(schema["properties"]), tool.name
    out = {}
    for name, prop in schema["properties"].items():
        if name in wanted:
            out[name] = wanted[name]
        elif {"type": "null"} in prop.get("anyOf", ()):
            out[name] = None
        else:
            assert "default" in prop, f"a strict model would have to invent {tool.name}.{name}"
            out[name] = prop["default"]
    return out


class ScriptedModel(Model):
    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs, tracing, **_: Any):
        outputs = [item for item in input if isinstance(item, dict) and item.get("type") == "function_call_output"]
        last = as_text(outputs[-1]["output"]) if outputs else None
        if last is not None:
            seen.append(last)
        call = next_call(last)
        if call is None:
            text = ResponseOutputText(type="output_text", text="done: " + last, annotations=[])
            message = ResponseOutputMessage(id="m", type="message", role="assistant", status="completed", content=[text])
            return ModelResponse(output=[message], usage=Usage(), response_id=None)
        name, wanted = call
        [tool] = [t for t in tools if isinstance(t, FunctionTool) and t.name == name]
        arguments = json.dumps(strict_arguments(tool, wanted))
        n = next(ids)
        return ModelResponse(
            output=[ResponseFunctionToolCall(type="function_call", call_id=f"c{n}", id=f"f{n}", name=name, arguments=arguments)],
            usage=Usage(),
            response_id=None,
        )

    def stream_response(self, *args: Any, **kwargs: Any):
        raise NotImplementedError


async def main() -> None:
    async with pika_server() as pika:
        agent = Agent(name="director", model=ScriptedModel(), mcp_servers=[pika], mcp_config={"convert_schemas_to_strict": True})
        result = await Runner.run(agent, "Make a short video of a lighthouse at dawn.", max_turns=20)
        job_id, status = job_of(seen[-1])
        assert status == "succeeded", seen[-1]
        # The MCP server object also calls a tool directly: every optional argument null, as a strict model sends it.
        listing = await pika.call_tool("pika_list_jobs", {"status": None, "limit": None})
        assert not listing.is_error and job_id in json.dumps(listing.structured_content)
    print(
        f"openai-agents: {len(seen)} tool answers, job {job_id} {status}; first call {ARGUMENTS} sent strict (nulls for the rest)"
    )
    print("the model last saw:", seen[-1][:200])
    print("final output:", str(result.final_output)[:120])


asyncio.run(main())

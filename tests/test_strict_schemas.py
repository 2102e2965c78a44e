"""What a model reads of the tools: every argument described, every optional one left out with null, 16 KiB in all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client

from pika_mcp.reads import BUDGET_BYTES, model_reads
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import Fal, all_tools
from tests.test_bodies import CASES

pytestmark = pytest.mark.anyio

NULL = {"type": "null"}


async def listed(settings: Settings) -> dict[str, dict[str, Any]]:
    async with Client(build_server(settings).mcp) as client:
        tools = (await client.list_tools()).tools
    return {t.name: {"name": t.name, "description": t.description or "", "inputSchema": t.input_schema} for t in tools}


def properties(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every property of an object schema, nested ones included, with whether it is required."""
    for branch in [schema, *schema.get("anyOf", ())]:
        for name, prop in branch.get("properties", {}).items():
            yield f"{path}{name}", prop, name in branch.get("required", ())
            yield from properties(prop, f"{path}{name}.")
            for option in [prop, *prop.get("anyOf", ())]:
                if isinstance(option.get("items"), dict):
                    yield from properties(option["items"], f"{path}{name}[].")


def takes_null(prop: dict[str, Any]) -> bool:
    return NULL in prop.get("anyOf", ())


async def test_every_argument_of_every_tool_is_described_for_the_model(settings: Settings) -> None:
    undescribed = [f"{tool}.{path}" for tool, shown in (await listed(settings)).items()
                   for path, prop, _ in properties(shown["inputSchema"]) if not prop.get("description")]  # fmt: skip
    assert undescribed == []


async def test_what_a_model_reads_of_the_documented_tools_fits_the_budget(settings: Settings) -> None:
    tools = await listed(settings)
    assert set(tools) == all_tools()
    read = model_reads(tools.values())
    assert read <= BUDGET_BYTES, read


async def test_a_strict_model_can_leave_out_every_optional_argument(settings: Settings) -> None:
    """OpenAI's strict mode makes every property required: an optional one must then take null, or declare
    a default from a list or range that the model can send; a seed, a negative prompt, a wait or a status
    filter always take null. Nulls are spelled as a separate `anyOf` branch, never a list of types."""
    tools = await listed(settings)
    forced = [f"{tool}.{path}" for tool, shown in tools.items() for path, prop, required in properties(shown["inputSchema"])
              if not required and not takes_null(prop) and "default" not in prop]  # fmt: skip
    assert forced == []
    for tool, shown in tools.items():
        props = shown["inputSchema"]["properties"]
        for name in ("seed", "negative_prompt", "wait_seconds", "status", "timeout_seconds"):
            assert name not in props or takes_null(props[name]), (tool, name)
        assert '"type":[' not in json.dumps(shown, separators=(",", ":")), tool
    assert takes_null(tools["pika_v2_pikaswaps"]["inputSchema"]["properties"]["image_url"])


@pytest.mark.parametrize(("tool", "args", "path", "body"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_a_null_for_each_optional_argument_means_left_out_and_is_never_sent(
    settings: Settings, fal: Fal, tool: str, args: dict, path: str, body: dict
) -> None:
    """A strict model's call: every optional argument it did not mean to set is null. fal receives the same
    body as for the call that leaves them out (defaults included), with no null anywhere."""
    tools = await listed(settings)
    schema = tools[tool]["inputSchema"]
    nulls = {name: None for name, prop in schema["properties"].items() if takes_null(prop) and name not in args}
    assert {"seed", "wait_seconds"} <= set(nulls) | set(args)
    if "transitions" in args:  # nested: a transition's prompt
        args = args | {"transitions": [t if "prompt" in t else t | {"prompt": None} for t in args["transitions"]]}
    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool(tool, args | nulls)
        assert not result.is_error, result.content
        job_id = result.structured_content["job_id"]
        waited = await client.call_tool("pika_wait_for_job", {"job_id": job_id, "timeout_seconds": None})
        listing = await client.call_tool("pika_list_jobs", {"status": None, "limit": None})
    [submit] = fal.sent("submit")
    assert (submit.path, submit.json) == (path, body)
    assert "null" not in json.dumps(submit.json)
    assert not waited.is_error and waited.structured_content["job_id"] == job_id
    assert not listing.is_error and [j["job_id"] for j in listing.structured_content["jobs"]] == [job_id]

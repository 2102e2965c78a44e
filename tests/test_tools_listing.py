"""Every tool is listed with a flat, closed input schema, an output schema and the right annotations."""

from __future__ import annotations

import json
import re

import pytest
from mcp import Client

from pika_mcp.catalog import ENDPOINTS
from pika_mcp.reads import BUDGET_BYTES, DOCUMENTED_TOOLS, model_reads
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import DESIGN_TOOL_NAMES, JOB_TOOL_NAMES, all_tools, generation_tools

pytestmark = pytest.mark.anyio

GENERATION_TOOLS = generation_tools()


async def test_every_endpoint_and_job_tool_is_listed_flat_with_output_schema(settings: Settings) -> None:
    async with Client(build_server(settings).mcp) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == all_tools() and DESIGN_TOOL_NAMES <= set(tools)
    for name, tool in tools.items():
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False, name
        assert "$ref" not in json.dumps(schema) and "$defs" not in schema, name
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", name
    for name in GENERATION_TOOLS:
        props = tools[name].input_schema["properties"]
        assert {"wait_seconds", "force_new"} <= set(props)
        assert "request" not in props
        annotations = tools[name].annotations
        assert annotations is not None
        assert (annotations.read_only_hint, annotations.idempotent_hint, annotations.open_world_hint) == (False, False, True)
        assert "$" in tools[name].description and "pika_wait_for_job" in tools[name].description
    assert tools["pika_get_job"].annotations.read_only_hint is True
    assert tools["pika_list_jobs"].annotations.read_only_hint is True
    cancel = tools["pika_cancel_job"].annotations
    assert cancel.destructive_hint is True and cancel.idempotent_hint is True
    assert set(tools["pika_v22_text_to_video"].output_schema["properties"]) >= {
        "job_id", "tool", "endpoint_id", "status", "queue_position", "created_at", "updated_at",
        "estimated_cost_usd", "backend", "deduplicated", "video", "error",
    }  # fmt: skip


async def test_schemas_carry_fal_enums_defaults_and_limits(settings: Settings) -> None:
    async with Client(build_server(settings).mcp) as client:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
    t2v = tools["pika_v22_text_to_video"]["properties"]
    assert t2v["duration"]["enum"] == [5, 10] and t2v["duration"]["default"] == 5
    assert t2v["aspect_ratio"]["enum"] == ["16:9", "9:16", "1:1", "4:5", "5:4", "3:2", "2:3"]
    assert t2v["prompt"]["maxLength"] == 2500
    assert tools["pika_v22_text_to_video"]["required"] == ["prompt"]
    frames = tools["pika_v22_pikaframes"]["properties"]["image_urls"]
    assert (frames["minItems"], frames["maxItems"]) == (2, 5)
    assert tools["pika_v22_pikascenes"]["required"] == ["image_urls", "prompt"]
    assert "Melt" in tools["pika_v15_pikaffects"]["properties"]["pikaffect"]["enum"]


async def test_what_a_model_reads_of_the_tools_fits_16_kib(settings: Settings) -> None:
    async with Client(build_server(settings).mcp) as client:
        tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools]
    assert DOCUMENTED_TOOLS == DESIGN_TOOL_NAMES and DOCUMENTED_TOOLS <= {t["name"] for t in tools}
    read = model_reads(tools)
    assert read <= BUDGET_BYTES == 16_384, read


def test_tool_names_follow_the_endpoint_path_rule() -> None:
    """`pika_` + the endpoint path after `fal-ai/pika/`, dots removed, every other run of non-alphanumerics an `_`."""
    for endpoint in ENDPOINTS:
        path = endpoint.endpoint_id.removeprefix("fal-ai/pika/").replace(".", "")
        assert endpoint.tool == "pika_" + re.sub(r"[^A-Za-z0-9]+", "_", path), endpoint.endpoint_id
    assert DESIGN_TOOL_NAMES - JOB_TOOL_NAMES <= GENERATION_TOOLS


async def test_pika_mcp_tools_filter_exposes_only_matching_tools(settings: Settings) -> None:
    import dataclasses

    narrowed = dataclasses.replace(settings, tools=("pika_v22_*", "pika_wait_for_job"))
    async with Client(build_server(narrowed).mcp) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {n for n in GENERATION_TOOLS if n.startswith("pika_v22_")} | {"pika_wait_for_job"}


def _valid(schema: dict[str, object], instance: object) -> bool:
    from jsonschema.validators import validator_for

    return validator_for(schema)(schema).is_valid(instance)


QUEUED = {
    "job_id": "r1", "tool": "pika_v22_text_to_video", "endpoint_id": "fal-ai/pika/v2.2/text-to-video", "status": "queued",
    "queue_position": 3, "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:01.000Z",
    "estimated_cost_usd": 0.2, "cost_is_estimate": False, "backend": "fal", "deduplicated": False, "video": None,
    "error": None, "poster_uri": None, "note": None, "title": "Pika 2.2 text to video", "prompt": "a fox",
    "inputs": {"image_urls": ["https://v3.fal.media/files/a.png"]}, "resource_uri": "pika://jobs/r1", "cancel_outcome": None,
}  # fmt: skip
VIDEO = {"url": "https://v3.fal.media/files/a.mp4", "content_type": "video/mp4", "file_size": 10, "local_path": "/v/a.mp4",
         "duration_s": 5.0, "width": 1280, "height": 720, "fps": 24.0, "poster_path": None, "save_error": None}  # fmt: skip
VIEWS = [
    QUEUED,
    QUEUED | {"status": "succeeded", "queue_position": None, "video": VIDEO},
    QUEUED | {"status": "succeeded", "video": VIDEO | {"url": None, "save_error": "disk full"}},
    QUEUED | {"status": "failed", "error": {"type": "provider_error", "message": "m", "detail": "text"}},
    QUEUED | {"status": "failed", "error": {"type": "invalid_input", "message": "m", "detail": [{"loc": ["body"]}, "x"]}},
    QUEUED | {"status": "failed", "error": {"type": "content_policy", "message": "m", "detail": {"k": 1}}},
    # each of these is wrong in one way
    QUEUED | {"status": "done"},
    QUEUED | {"queue_position": "3"},
    QUEUED | {"video": VIDEO | {"width": "wide"}},
    QUEUED | {"video": {"content_type": "video/mp4"}},
    QUEUED | {"error": {"type": "provider_error", "message": "m", "detail": 7}},
    QUEUED | {"error": {"type": "provider_error", "message": "m", "detail": [7]}},
    QUEUED | {"error": {"type": "oops", "message": "m"}},
    QUEUED | {"video": []},
    {k: v for k, v in QUEUED.items() if k != "status"},
    QUEUED | {"inputs": {"image_url": 3}},
]


def test_output_schemas_are_lean_and_accept_exactly_what_the_models_do() -> None:
    """Published output schemas inline `$ref`s and drop titles (each result is checked against them by the
    client, quicker this way), keep one `type` per `anyOf` branch (portable), and accept and refuse exactly
    what Pydantic's full schemas do."""
    from pika_mcp.server.tools import _metadata
    from pika_mcp.view import JobList, JobView

    lean, full = _metadata(JobView).output_schema, JobView.model_json_schema(mode="serialization")
    assert lean is not None and "$ref" not in json.dumps(lean) and '"title"' not in json.dumps(lean)
    assert '"type": [' not in json.dumps(lean)  # no lists of types: some clients' dialects reject them
    outcomes = [(_valid(lean, view), _valid(full, view)) for view in VIEWS]
    assert [a for a, _ in outcomes] == [b for _, b in outcomes]
    assert [a for a, _ in outcomes] == [True] * 6 + [False] * 10  # the samples do test both ways
    listing = _metadata(JobList).output_schema
    assert listing is not None
    assert _valid(listing, {"jobs": VIEWS[:6], "spend_24h_usd": 0.4}) and not _valid(
        listing, {"jobs": VIEWS[6:8], "spend_24h_usd": 0}
    )

"""The tools: one per Pika endpoint from the catalog, and the job tools; each answers a job view or an isError."""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict

from pika_mcp.arguments import MAX_PROBLEMS, NULL, clip, input_schema, lean, quote
from pika_mcp.arguments import parse as parse_call
from pika_mcp.catalog import ENDPOINTS, Endpoint
from pika_mcp.errors import InputError
from pika_mcp.job import STATUSES, Job
from pika_mcp.models import MAX_PATH_CHARS
from pika_mcp.server.edge import Edge, Handler, Ready, guarded
from pika_mcp.server.owner import owner_of
from pika_mcp.server.results import MAX_LIST, answer
from pika_mcp.settings import MAX_WAIT_SECONDS
from pika_mcp.view import JobList, JobView, UploadView

GENERATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WAIT = ToolAnnotations(read_only_hint=True, open_world_hint=True)
UPLOAD = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
CANCEL = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)
Progress = Callable[[Job, float], Awaitable[None]]


def selected(name: str, patterns: tuple[str, ...] | None) -> bool:
    """Whether PIKA_MCP_TOOLS (names or globs; None: all) exposes the tool `name`."""
    return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def all_tools(ready: Ready, wait_seconds: int) -> list[Tool]:
    """Every tool: one per catalog endpoint, then the job tools. `wait_seconds` is the default wait (PIKA_MCP_WAIT_SECONDS)."""
    return [generation_tool(ready, e, wait_seconds) for e in ENDPOINTS] + job_tools(ready, wait_seconds)


class _RawArguments(ArgModelBase):
    """Hands the tool its arguments untouched: pika-mcp validates them itself, with its own messages."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def progress(ctx: Context, timeout: float) -> Progress:
    """Progress notifications for a waiting call: elapsed of `timeout` seconds, and the job's status."""

    async def report(job: Job, elapsed: float) -> None:
        where = f", position {job.queue_position} in queue" if job.queue_position is not None else ""
        await ctx.report_progress(min(elapsed, timeout), timeout, f"{job.job_id}: {job.status}{where}")

    return report


def generation_tool(ready: Ready, endpoint: Endpoint, wait_seconds: int) -> Tool:
    async def generate(edge: Edge, arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        call = parse_call(endpoint, arguments)
        job, deduplicated = await edge.service.submit(owner_of(), endpoint, call)
        wait = wait_seconds if call.wait_seconds is None else call.wait_seconds
        if not job.finished and wait > 0:
            job = await edge.service.wait(job.owner, job.local_id, wait, progress(ctx, wait))
        return edge.results.result(job, deduplicated)

    return _tool(
        guarded(ready, generate), endpoint.tool, endpoint.title, endpoint.description, input_schema(endpoint), JobView, GENERATE
    )


def job_tools(ready: Ready, wait_seconds: int) -> list[Tool]:
    job_id_schema = {"type": "string", "minLength": 1, "maxLength": 200, "description": "The job_id a generation tool returned."}

    async def get_job(edge: Edge, arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = _args(arguments, {"job_id": str})
        return edge.results.result(edge.service.get(owner_of(), args["job_id"]))

    async def wait_for_job(edge: Edge, arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = _args(arguments, {"job_id": str, "timeout_seconds": int})
        timeout = args.get("timeout_seconds", wait_seconds)
        if not 0 <= timeout <= MAX_WAIT_SECONDS:
            raise InputError(f"timeout_seconds must be from 0 to {MAX_WAIT_SECONDS}, got {quote(timeout)}.")
        owner = owner_of()
        job = edge.service.get(owner, args["job_id"])
        return edge.results.result(await edge.service.wait(owner, job.local_id, timeout, progress(ctx, timeout)))

    async def cancel_job(edge: Edge, arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = _args(arguments, {"job_id": str})
        return edge.results.result(await edge.service.cancel(owner_of(), args["job_id"]))

    async def list_jobs(edge: Edge, arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = _args(arguments, {"status": str, "limit": int})
        listing = edge.results.listing(owner_of(), args.get("status"), args.get("limit", 20))
        return answer(f"{len(listing.jobs)} job(s); estimated spend in the last 24 hours ${listing.spend_24h_usd:.2f}.", listing)

    async def upload_file(edge: Edge, arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = _args(arguments, {"path": str})
        if "path" not in args:
            raise InputError("path is required: an absolute path or file:// URI of an image or video.")
        if len(args["path"]) > MAX_PATH_CHARS:
            raise InputError(f"path is {len(args['path'])} characters; a local path has at most {MAX_PATH_CHARS}.")
        uploaded = UploadView(**await edge.inputs.upload(args["path"]))
        return answer(f"Uploaded ({uploaded.content_type}, {uploaded.file_size} bytes): {uploaded.url}", uploaded)

    def tool(body: Any, *rest: Any) -> Tool:
        return _tool(guarded(ready, body), *rest)

    return [
        tool(get_job, "pika_get_job", "Get a job",
              "Returns a Pika job's current state (from the local ledger; no cost). The video's URL and local path once succeeded.",
              _object({"job_id": job_id_schema}, ["job_id"]), JobView, READ),
        tool(wait_for_job, "pika_wait_for_job", "Wait for a job",
              "Waits up to timeout_seconds for a Pika job to finish, with progress, then returns it finished or not. "
              "Call again while it is queued or running; waiting never cancels the job.",
              _object({"job_id": job_id_schema, "timeout_seconds": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                       NULL], "description": f"Most seconds to wait (default {wait_seconds})."}}, ["job_id"]), JobView, WAIT),
        tool(cancel_job, "pika_cancel_job", "Cancel a job",
              "Asks fal to cancel a queued or running job; fal's answer decides. A job already finished is returned as it is.",
              _object({"job_id": job_id_schema}, ["job_id"]), JobView, CANCEL),
        tool(list_jobs, "pika_list_jobs", "List jobs",
              "Lists your Pika jobs, newest first, with the estimated spend of the last 24 hours.",
              _object({"status": {"anyOf": [{"type": "string", "enum": list(STATUSES)}, NULL], "description": "Only jobs in this state."},
                       "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST, "default": 20,
                                 "description": "Most jobs to list."}}, []), JobList, READ),
        tool(upload_file, "pika_upload_file", "Upload a local file",
              "Uploads a local image or video (absolute path) to fal's storage and returns its URL. Generation tools "
              "also take local paths directly; use this to reuse one URL many times.",
              _object({"path": {"type": "string", "minLength": 1, "description": "Absolute path or file:// URI."}}, ["path"]),
              UploadView, UPLOAD),
    ]  # fmt: skip


def _args(raw: dict[str, Any], spec: dict[str, type]) -> dict[str, Any]:
    """Check a job tool's few arguments: known names, right types."""
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        more = len(unknown) - MAX_PROBLEMS
        shown = ", ".join(clip(name) for name in unknown[:MAX_PROBLEMS]) + (f" and {more} more" if more > 0 else "")
        raise InputError(f"Unknown argument(s) {shown}; this tool accepts {', '.join(spec)}.")
    out = {}
    for name, kind in spec.items():
        value = raw.get(name)
        if value is None:
            continue
        if type(value) is not kind:
            raise InputError(f"{name} must be {'a string' if kind is str else 'an integer'}, got {_as_json(value)}.")
        out[name] = value
    if "job_id" in spec and "job_id" not in out:
        raise InputError("job_id is required: pass the job_id a generation tool returned.")
    return out


def _as_json(value: Any) -> str:
    """A wrong value as the caller wrote it, cut short; one JSON cannot print (an int past 4300 digits) by its repr."""
    try:
        return clip(json.dumps(value))
    except ValueError:
        return quote(value)


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


@functools.cache
def _metadata(output: type[BaseModel]) -> FuncMetadata:
    """Built once per output model, with the output schema lean (see arguments.lean).

    No `output_model`: the SDK would validate every result against it again, and each result is already
    a dump of that model (the client checks it against the schema besides)."""
    schema = lean(output.model_json_schema(mode="serialization"), output=True)
    return FuncMetadata(arg_model=_RawArguments, output_schema=schema)


def _tool(
    fn: Handler,
    name: str,
    title: str,
    description: str,
    schema: dict[str, Any],
    output: type[BaseModel],
    annotations: ToolAnnotations,
) -> Tool:
    return Tool(
        fn=fn,
        name=name,
        title=title,
        description=description,
        parameters=schema,
        fn_metadata=_metadata(output),
        is_async=True,
        context_kwarg="ctx",
        annotations=annotations,
    )

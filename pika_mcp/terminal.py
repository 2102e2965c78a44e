"""Commands for people at a terminal: `pika-mcp generate TOOL ...` and `pika-mcp jobs`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pika_mcp.catalog import BY_TOOL, ENDPOINTS, Endpoint, usd
from pika_mcp.settings import Settings

BAR_WIDTH = 28
WAIT_PER_CALL = 60  # seconds per pika_wait_for_job call; the CLI keeps calling until the job ends
LOCAL_COPY_SECONDS = 60.0  # the download into PIKA_MCP_OUTPUT_DIR follows the job's success
LOCAL_COPY_POLL = 0.25
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov")
DAY = 86_400.0


# -- generate -----------------------------------------------------------------------------------


def tool_parser(endpoint: Endpoint) -> argparse.ArgumentParser:
    """The tool's fields as options, typed from its input schema: ints, choices, lists, booleans."""
    from pika_mcp.arguments import input_schema, plain

    schema = input_schema(endpoint)
    p = argparse.ArgumentParser(
        prog=f"pika-mcp generate {endpoint.tool}",
        description=f"{endpoint.title}. {endpoint.description}",
        epilog="Lists take the option once per item, or one JSON array. Local files may be relative paths.",
    )
    required = set(schema.get("required", ()))
    for name, prop in ((name, plain(prop)) for name, prop in schema["properties"].items()):
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        help_text = _help(prop)
        kind = prop.get("type")
        if kind == "boolean":
            p.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            continue
        options: dict[str, Any] = {"dest": name, "help": help_text, "required": name in required}
        if kind == "array":
            options |= {"action": "append", "type": _value(prop.get("items", {})), "metavar": "VALUE"}
        else:
            options["type"] = _value(prop)
            if "enum" in prop:
                options["choices"] = prop["enum"]
                options["metavar"] = "{" + ",".join(map(str, prop["enum"])) + "}"
        p.add_argument(*flags, **options)
    return p


def _help(prop: dict[str, Any]) -> str:
    text = prop.get("description", "")
    if "default" in prop:
        text += f" (default {prop['default']})"
    for bound, word in (("minimum", "min"), ("maximum", "max")):
        if bound in prop:
            text += f" [{word} {prop[bound]}]"
    return text.strip() or " "


def _value(prop: dict[str, Any]) -> Any:
    kind = prop.get("type")
    if kind == "integer":
        return int
    if kind == "number":
        return float
    if kind == "object":
        return _json_object
    return str


def _json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from None


def _media(value: Any) -> Any:
    """A relative path to an existing file becomes absolute (the server takes absolute paths only)."""
    if isinstance(value, str) and "://" not in value and not value.startswith("data:") and Path(value).exists():
        return str(Path(value).absolute())
    return value


def _arguments(namespace: argparse.Namespace) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, value in vars(namespace).items():
        if value is None:
            continue
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) and value[0].lstrip().startswith("["):
            value = _json_object(value[0])  # one JSON array instead of repeated flags
        if name.endswith("_url"):
            value = _media(value)
        elif name.endswith("_urls") and isinstance(value, list):
            value = [_media(v) for v in value]
        args[name] = value
    return args


def list_tools(out: TextIO) -> None:
    print("usage: pika-mcp generate TOOL [--FIELD VALUE ...]   (pika-mcp generate TOOL --help for its fields)\n", file=out)
    for e in ENDPOINTS:
        print(f"  {e.tool:<30} {e.title}: {e.price.describe()}", file=out)


class ProgressBar:
    """One line on stderr, redrawn in place on a terminal; plain lines when stderr is a file."""

    def __init__(self, endpoint: Endpoint, stream: TextIO) -> None:
        self.stream = stream
        self.expected = max(endpoint.typical_seconds, 1)
        self.started = time.monotonic()
        self.tty = stream.isatty()
        self.last = ""

    def update(self, message: str | None, done: bool = False) -> None:
        elapsed = time.monotonic() - self.started
        fraction = 1.0 if done else min(elapsed / self.expected, 0.95)
        filled = round(fraction * BAR_WIDTH)
        status = (message or "").split(": ", 1)[-1]
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {elapsed:5.0f}s  {status}"
        if self.tty:
            self.stream.write("\r" + line.ljust(len(self.last)) + ("\n" if done else ""))
        elif status != self.last.split("s  ", 1)[-1]:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last = line


def generate(settings: Settings, tool: str | None, rest: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Make one video through the MCP server in-process; print its path. 0 succeeded, 1 failed, 2 refused."""
    import anyio

    if tool in (None, "-h", "--help", "help"):
        list_tools(out if tool else err)
        return 0 if tool else 2
    endpoint = BY_TOOL.get(tool)
    if endpoint is None:
        print(f"pika-mcp: unknown tool {tool!r}.", file=err)
        list_tools(err)
        return 2
    arguments = _arguments(tool_parser(endpoint).parse_args(list(rest)))
    started: dict[str, str] = {}
    try:
        return anyio.run(_generate, settings, endpoint, arguments, started, out, err)
    except KeyboardInterrupt:
        if job_id := started.get("job_id"):
            print(f"\nStopped watching. Job {job_id} keeps running; see it with `pika-mcp jobs`.", file=err)
        return 130


async def _generate(settings: Settings, endpoint: Endpoint, arguments: dict[str, Any], started: dict[str, str],
                    out: TextIO, err: TextIO) -> int:  # fmt: skip
    import anyio
    from mcp import Client

    from pika_mcp.server import build_server

    bar = ProgressBar(endpoint, err)

    async def progress(done: float, total: float | None, message: str | None) -> None:
        bar.update(message)

    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool(endpoint.tool, arguments, progress_callback=progress)
        if result.is_error:
            print(f"pika-mcp: {_text(result)}", file=err)
            return 2
        job = result.structured_content or {}
        started["job_id"] = job["job_id"]
        if job.get("backend") == "sandbox":
            print("Sandbox backend: a free local preview, not Pika's model (set FAL_KEY for real videos).", file=err)
        while job.get("status") in ("queued", "running"):
            bar.update(f"{job['status']}")
            result = await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": WAIT_PER_CALL},
                                            progress_callback=progress)  # fmt: skip
            job = result.structured_content or job
        bar.update(job.get("status"), done=True)
        if job.get("status") != "succeeded":
            error = job.get("error") or {}
            print(f"Job {job['job_id']} {job.get('status')}: {error.get('type', '')} {error.get('message', '')}".rstrip(), file=err)
            return 1
        with anyio.move_on_after(LOCAL_COPY_SECONDS):
            while not (job.get("video") or {}).get("local_path"):
                await anyio.sleep(LOCAL_COPY_POLL)
                job = (await client.call_tool("pika_get_job", {"job_id": job["job_id"]})).structured_content or job
    video = job.get("video") or {}
    print(f"Job {job['job_id']} succeeded; estimated cost {usd(job.get('estimated_cost_usd', 0))}.", file=err)
    print(video.get("local_path") or video.get("url"), file=out)
    return 0


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content).strip()


# -- jobs ---------------------------------------------------------------------------------------


def jobs(settings: Settings, limit: int = 20, prune_days: float | None = None, out: TextIO = sys.stdout) -> int:
    """A table of this person's recent jobs and the 24-hour spend, or, with --prune, old videos deleted."""
    if prune_days is not None:
        return prune(settings.output_dir, prune_days, out)
    from pika_mcp.ledger import LOCAL_OWNER, Ledger

    path = settings.home / "jobs.sqlite3"
    if not path.exists():
        print(f"No jobs yet (no ledger at {path}).", file=out)
        return 0
    ledger = Ledger(path)
    try:
        rows = ledger.list(LOCAL_OWNER, limit=max(1, min(limit, 200)))
        spend = ledger.spend(LOCAL_OWNER, since=time.time() - DAY)
    finally:
        ledger.close()
    table = [("CREATED", "JOB ID", "TOOL", "STATUS", "COST", "VIDEO")]
    for job in rows:
        video = job.video or {}
        where = video.get("local_path") or video.get("url") or (job.error or {}).get("type") or "-"
        created = datetime.fromtimestamp(job.created_at).strftime("%Y-%m-%d %H:%M")
        table.append((created, job.job_id, job.tool, job.status, usd(job.estimated_cost_usd), str(where)))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[5], file=out)
    if not rows:
        print("(no jobs)", file=out)
    print(f"\nEstimated spend in the last 24 hours: {usd(spend)}", file=out)
    return 0


def prune(folder: Path, days: float, out: TextIO) -> int:
    """Delete the videos in `folder` (not below it) last modified more than `days` days ago."""
    if days < 0:
        print("pika-mcp: --prune takes a number of days, 0 or more.", file=sys.stderr)
        return 2
    cutoff = time.time() - days * DAY
    count = freed = 0
    if folder.is_dir():
        for path in folder.iterdir():
            if path.suffix.lower() not in VIDEO_SUFFIXES or path.is_symlink() or not path.is_file():
                continue
            stat = path.stat()
            if stat.st_mtime < cutoff:
                path.unlink()
                count += 1
                freed += stat.st_size
    print(f"Deleted {count} video(s) older than {days:g} day(s) from {folder}, freeing {_size(freed)} ({freed} bytes).", file=out)
    return 0


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"

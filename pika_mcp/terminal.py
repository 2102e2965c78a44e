"""Commands for people at a terminal: `pika-mcp generate TOOL ...` and `pika-mcp jobs`."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from pika_mcp.catalog import BY_TOOL, Endpoint, usd
from pika_mcp.errors import FileRefused
from pika_mcp.job import LIVE, LOCAL_OWNER, SUCCEEDED
from pika_mcp.money import SPEND_WINDOW, spends
from pika_mcp.options import arguments_of, chosen_files, list_tools, tool_parser
from pika_mcp.settings import Settings

BAR_WIDTH = 28
WAIT_PER_CALL = 60  # seconds per pika_wait_for_job call; the CLI keeps calling until the job ends
DAY = 86_400.0


# -- generate -----------------------------------------------------------------------------------


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


def generate(
    settings: Settings, tool: str | None, rest: Sequence[str], out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Make one video through the MCP server in-process; print its path. 0 succeeded, 1 failed, 2 refused."""
    import anyio

    out, err = out or sys.stdout, err or sys.stderr  # looked up now: a caller may have replaced them

    if tool is None or tool in ("-h", "--help", "help"):
        list_tools(out if tool else err)
        return 0 if tool else 2
    endpoint = BY_TOOL.get(tool)
    if endpoint is None:
        print(f"pika-mcp: unknown tool {tool!r}.", file=err)
        list_tools(err)
        return 2
    try:
        arguments = arguments_of(tool_parser(endpoint).parse_args(list(rest)))
    except FileRefused as exc:
        print(f"pika-mcp: {exc}", file=err)
        return 2
    started: dict[str, str] = {}
    try:
        return anyio.run(_generate, settings, endpoint, arguments, started, out, err)
    except KeyboardInterrupt:
        if job_id := started.get("job_id"):
            print(f"\nStopped watching. Job {job_id} keeps running; see it with `pika-mcp jobs`.", file=err)
        return 130


async def _generate(settings: Settings, endpoint: Endpoint, arguments: dict[str, Any], started: dict[str, str],
                    out: TextIO, err: TextIO) -> int:  # fmt: skip
    from mcp import Client

    from pika_mcp import runtime
    from pika_mcp.server import build_server

    bar = ProgressBar(endpoint, err)

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        bar.update(message)

    chosen = chosen_files(arguments)
    server = build_server(settings, start=lambda: runtime.start(settings, chosen=chosen))
    async with Client(server.mcp) as client:
        result = await client.call_tool(endpoint.tool, arguments, progress_callback=progress)
        if result.is_error:
            print(f"pika-mcp: {_text(result)}", file=err)
            return 2
        job = result.structured_content or {}
        started["job_id"] = job["job_id"]
        if job.get("deduplicated"):
            print(f"An identical call was made in the last 10 minutes: this is its job, {job['job_id']}, not a new one "
                  "(nothing paid again). Add --force-new to make a new video.", file=err)  # fmt: skip
        if job.get("backend") == "sandbox":
            print("Sandbox backend: a free local preview, not Pika's model (set FAL_KEY for real videos).", file=err)
        while job.get("status") in LIVE:  # a job says succeeded once its video is saved
            bar.update(f"{job['status']}")
            result = await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": WAIT_PER_CALL},
                                            progress_callback=progress)  # fmt: skip
            job = result.structured_content or job
        bar.update(job.get("status"), done=True)
    if job.get("status") != SUCCEEDED:
        error = job.get("error") or {}
        print(f"Job {job['job_id']} {job.get('status')}: {error.get('type', '')} {error.get('message', '')}".rstrip(), file=err)
        return 1
    video = job.get("video") or {}
    print(f"Job {job['job_id']} succeeded; estimated cost {usd(job.get('estimated_cost_usd', 0))}.", file=err)
    if not video.get("local_path") and video.get("save_error"):
        print(f"Not saved locally: {video['save_error']}", file=err)
    print(video.get("local_path") or video.get("url"), file=out)
    return 0


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content).strip()


# -- jobs ---------------------------------------------------------------------------------------


def jobs(
    settings: Settings, limit: int = 20, prune_days: float | None = None, out: TextIO = sys.stdout, *, dry_run: bool = False
) -> int:
    """A table of this person's recent jobs and the 24-hour spend, or, with --prune, old videos deleted."""
    if prune_days is not None:
        return prune(settings, prune_days, out, dry_run=dry_run)
    from pika_mcp.fleet import open_store

    path = settings.home / "jobs.sqlite3"
    if not settings.database_url and not path.exists():
        print(f"No jobs yet (no ledger at {path}).", file=out)
        return 0
    ledger = open_store(settings)
    try:
        rows = ledger.list(LOCAL_OWNER, limit=max(1, min(limit, 200)))
        spend = ledger.spend(LOCAL_OWNER, since=time.time() - SPEND_WINDOW)
    finally:
        ledger.close()
    table = [("CREATED", "JOB ID", "TOOL", "STATUS", "COST", "VIDEO")]
    for job in rows:
        video = job.video or {}
        where = video.get("local_path") or video.get("url") or (job.error or {}).get("type") or "-"
        created = datetime.fromtimestamp(job.created_at).strftime("%Y-%m-%d %H:%M")
        table.append((created, job.job_id, job.tool, job.status, usd(job.estimated_cost_usd if spends(job) else 0.0), str(where)))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[5], file=out)
    if not rows:
        print("(no jobs)", file=out)
    print(f"\nEstimated spend in the last 24 hours: {usd(spend)}", file=out)
    return 0


def prune(settings: Settings, days: float, out: TextIO, *, dry_run: bool = False) -> int:
    """Delete the videos and posters pika-mcp saved for jobs finished more than `days` days ago (or list them)."""
    if days < 0:
        print("pika-mcp: --prune takes a number of days, 0 or more.", file=sys.stderr)
        return 2
    from pika_mcp.fleet import open_store
    from pika_mcp.prune import prune as prune_jobs

    path = settings.home / "jobs.sqlite3"
    if not settings.database_url and not path.exists():
        print(f"Nothing to prune (no ledger at {path}).", file=out)
        return 0
    ledger = open_store(settings)  # every person's jobs, in the database with PIKA_MCP_DATABASE_URL
    try:
        done = prune_jobs(ledger, days, dry_run=dry_run)
    finally:
        ledger.close()
    verb = "Would delete" if dry_run else "Deleted"
    count = freed = 0
    for item in done:
        if item.kept is not None:
            print(f"kept   {item.job.job_id}: {item.kept}", file=out)
            continue
        for file in (item.video, item.poster):
            if file is not None:
                print(f"{'would delete' if dry_run else 'deleted'}  {file}", file=out)
        count += item.video is not None
        freed += item.freed
    print(
        f"{verb} {count} video(s) pika-mcp saved for jobs finished more than {days:g} day(s) ago, "
        f"freeing {_size(freed)} ({freed} bytes). Other files in {settings.output_dir} are never touched.",
        file=out,
    )
    from pika_mcp.sandbox.prune import prune_sandbox

    sandbox = prune_sandbox(settings.home / "sandbox", days * DAY, dry_run=dry_run)
    if sandbox.jobs or sandbox.files:
        print(
            f"The local sandbox: {verb.lower()} {len(sandbox.jobs)} finished job(s) and {len(sandbox.files)} stored file(s), "
            f"{_size(sandbox.freed_bytes)}.",
            file=out,
        )
    return 0


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"

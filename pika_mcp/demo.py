"""`pika-mcp demo`: a Pikascenes video from the shipped sample images, made through the official MCP client, no account."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from pika_mcp.job import LIVE, SUCCEEDED
from pika_mcp.server import build_server
from pika_mcp.settings import Settings

PROMPT = "A fox holding a paper boat walks through a lantern-lit forest at dusk, gentle camera push-in"
SAMPLES = ("fox.png", "forest.png", "boat.png")
MAX_WAIT_CALLS = 20


def sample_images(folder: Path) -> list[str]:
    """Copy the packaged sample images into `folder` (a place the server may read) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    assets = resources.files("pika_mcp") / "assets"
    paths = []
    for name in SAMPLES:
        source = assets / name
        if not source.is_file():
            continue
        target = folder / name
        with resources.as_file(source) as real:
            shutil.copyfile(real, target)
        paths.append(str(target))
    return paths


def run_demo(settings: Settings, out: Any = sys.stdout) -> int:
    # Its own embedded sandbox on SQLite in the home, whatever PIKA_MCP_DATABASE_URL says.
    demo = dataclasses.replace(
        settings, backend="sandbox", queue_url=None, rest_url=None, fal_key=None, budget_usd=None, database_url=None
    )
    return anyio.run(_demo, demo, out)


async def _demo(settings: Settings, out: Any) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    images = sample_images(settings.output_dir / "samples")
    server = build_server(settings)
    async with Client(server.mcp) as client:

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            say(f"  ... {progress:4.0f}s  {message or ''}")

        if images:
            tool = "pika_v22_pikascenes"
            args: dict[str, Any] = {"image_urls": images, "prompt": PROMPT, "resolution": "720p", "force_new": True}
        else:  # an installation without the sample images still shows the whole flow
            tool = "pika_v22_text_to_video"
            args = {"prompt": PROMPT, "force_new": True}
        say(f"pika-mcp demo: {tool} in the local sandbox (free; a preview, not Pika's model)")
        result = await client.call_tool(tool, args | {"wait_seconds": 30}, progress_callback=progress)
        if result.is_error:
            say(f"The call was refused: {result.content[0].text}")  # type: ignore[union-attr]
            return 1
        job = result.structured_content or {}
        for _ in range(MAX_WAIT_CALLS):  # the wait wakes on the job's change, the save included
            if job.get("status") not in LIVE:
                break
            result = await client.call_tool(
                "pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 30}, progress_callback=progress
            )
            job = result.structured_content or {}
        if job.get("status") != SUCCEEDED:
            say(f"The job ended {job.get('status')}: {job.get('error')}")
            return 1
        video = job.get("video") or {}  # a job says succeeded once its video is saved: no second look needed
        say(f"Job {job['job_id']} succeeded.")
        if video.get("width"):
            say(f"  {video['width']}x{video['height']}, {video['duration_s']} s at {video['fps']} fps")
        say(f"Video:  {video.get('local_path') or video.get('url')}")
        if video.get("save_error") and not video.get("local_path"):
            say(f"Not saved locally: {video['save_error']}")
        if video.get("poster_path"):
            say(f"Poster: {video['poster_path']}")
        return 0

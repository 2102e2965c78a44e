"""Finished to saved: from fal finishing a 720p job to the answer that says `succeeded` with the video saved.

The sandbox's record of when a job completed (the timestamp of its closing log line) against the moment the
client holds a `succeeded` answer whose `video.local_path` exists (and, with the media extra, whose poster
exists). A server that answers `succeeded` before its copy is written is polled (pika_get_job every 10 ms)
until the answer names the saved file; how many first answers came early is noted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
import uuid
from pathlib import Path
from typing import Any

from mcp import Client

from bench.fal import running_fal
from bench.launch import TOOL, pika_params
from bench.report import Goal, Report, Row
from bench.sizes import Sizes
from bench.stats import summarize

NAME = "7 finished to saved"
GOAL = Goal("value", most=1000.0)
ENDPOINT = "fal-ai/pika/v2.2/text-to-video"
BODY = {"duration": 5, "resolution": "720p", "aspect_ratio": "16:9"}
QUEUE_SECONDS = 0.3
RUN_SECONDS = 1.0  # the video is handed out at the start of the run: the job completes exactly at its end
WAIT_SECONDS = 60
POLL_SECONDS = 0.01
SAVE_DEADLINE = 60.0
POSTERS = importlib.util.find_spec("av") is not None  # the media extra makes posters


def is_saved(view: dict[str, Any] | None) -> bool:
    """`succeeded`, with the local copy (and poster, where posters are made) on disk."""
    if not view or view.get("status") != "succeeded" or not view.get("video"):
        return False
    video = view["video"]
    wanted = [video.get("local_path")] + ([video.get("poster_path")] if POSTERS else [])
    return all(p and Path(p).exists() for p in wanted)


async def saved_answer(pika: Client, job_id: str) -> tuple[float, bool]:
    """Wait for the job through pika_wait_for_job; returns when (time.time()) the client held the saved answer,
    and whether a `succeeded` answer came before the file was saved."""
    while True:
        result = await pika.call_tool("pika_wait_for_job", {"job_id": job_id, "timeout_seconds": WAIT_SECONDS})
        view = result.structured_content
        at = time.time()
        if result.is_error or view is None or view["status"] in ("failed", "cancelled"):
            raise RuntimeError(f"job {job_id} did not succeed: {result.content}")
        if view["status"] == "succeeded":
            break
    if is_saved(view):
        return at, False
    return await until_saved(pika, job_id), True


async def until_saved(pika: Client, job_id: str) -> float:
    """Poll pika_get_job until its answer names the saved file; when the client held that answer."""
    async with asyncio.timeout(SAVE_DEADLINE):
        while True:
            await asyncio.sleep(POLL_SECONDS)
            result = await pika.call_tool("pika_get_job", {"job_id": job_id})
            at = time.time()
            if is_saved(result.structured_content):
                return at


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    video = None
    if sizes.saved_render:  # a real 5 s 720p video, rendered once; each job hands out a copy
        from pika_mcp.sandbox.render import render_video

        video = work / "clip.mp4"
        prompt = "a paper boat drifting down a rainy street"
        await asyncio.to_thread(render_video, ENDPOINT, {"prompt": prompt, **BODY}, video, lambda url: None)
    run = uuid.uuid4().hex[:8]
    samples: list[float] = []
    early = 0
    async with running_fal(work / "fal", video) as fal:
        await fal.configure(queue_seconds=QUEUE_SECONDS, run_seconds=RUN_SECONDS)
        async with Client(pika_params(work / "pika", fal.url)) as pika:
            for i in range(-1 if sizes.warm_up else 0, sizes.saved_jobs):  # job -1 warms the path up, not counted
                result = await pika.call_tool(TOOL, {"prompt": f"bench {run} saved {i}", **BODY, "wait_seconds": 0})
                if result.is_error or result.structured_content is None:
                    raise RuntimeError(f"submit failed: {result.content}")
                job_id = str(result.structured_content["job_id"])
                at, came_early = await saved_answer(pika, job_id)
                if i >= 0:
                    samples.append((at - await fal.finished_at(job_id)) * 1000)
                    early += came_early
    s = summarize(samples)
    kind = "5 s 720p" if video else "720p preview"
    report.add(Row(NAME, f"p50, {kind} job", s.median, "ms", summary=s))
    report.add(Row(NAME, f"p95, {kind} job", s.p95, "ms", goal=GOAL, summary=s))
    report.note(NAME, "from the sandbox's closing log timestamp to the client holding a `succeeded` answer whose local file "
                      f"{'and poster exist' if POSTERS else 'exists'} (one job at a time, waited on with pika_wait_for_job)")  # fmt: skip
    report.note(NAME, f"{early} of {len(samples)} `succeeded` answers came before the video was saved "
                      f"(then pika_get_job every {POLL_SECONDS * 1000:.0f} ms until it was)")  # fmt: skip

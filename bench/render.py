"""Sandbox rendering: seconds to render a 5 s 720p preview video with the sandbox's renderer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench.report import Goal, Report, Row
from bench.sizes import Sizes
from bench.stats import summarize

NAME = "6 sandbox render"
ENDPOINT = "fal-ai/pika/v2.2/text-to-video"
BODY = {"prompt": "a paper boat drifting down a rainy street", "duration": 5, "resolution": "720p", "aspect_ratio": "16:9"}


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    try:
        from pika_mcp.sandbox.render import render_video
    except ImportError as exc:
        report.note(NAME, f"skipped: pika_mcp.sandbox.render.render_video is not available ({exc})")
        return
    samples = []
    for r in range(sizes.render_repeats):
        out = work / f"render-{r}.mp4"
        started = time.perf_counter()
        await asyncio.to_thread(render_video, ENDPOINT, dict(BODY), out, lambda url: None)
        samples.append(time.perf_counter() - started)
    s = summarize(samples)
    report.add(Row(NAME, "5 s 720p video", s.median, "s", goal=Goal("value", most=3.0), summary=s))
    report.note(NAME, f"output {out.stat().st_size / 1e6:.2f} MB")

"""Finished videos saved locally: streamed to a temporary name, renamed, measured, with a poster frame."""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

from pika_mcp.errors import FalError
from pika_mcp.ledger import Job
from pika_mcp.retry import RetryPolicy, with_retries

log = logging.getLogger(__name__)

MAX_VIDEO_BYTES = 1 << 30  # 1 GiB: far above any Pika output, a guard against a runaway answer
CHUNK = 1 << 16
POSTER_MAX_BYTES = 65_536  # a poster travels inside tool results; desktop clients reject results over 1 MB
# Decoding holds whole frames: measure one finished video at a time, however many jobs finish together.
MEASURE_AT_ONCE = 1


def slug(text: str, limit: int = 40) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "video"


def file_name(job: Job) -> str:
    day = time.strftime("%Y%m%d", time.gmtime(job.created_at))
    kind = job.tool.removeprefix("pika_")
    prompt = str(job.arguments.get("prompt") or job.arguments.get("pikaffect") or "")
    return f"{day}_{kind}_{slug(prompt)}_{job.job_id.removeprefix('local-')[:8]}.mp4"


@dataclass
class Outputs:
    """Downloads into `output_dir`; posters go to `poster_dir`."""

    http: httpx2.AsyncClient
    output_dir: Path
    poster_dir: Path
    max_bytes: int = MAX_VIDEO_BYTES
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    _measuring: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(MEASURE_AT_ONCE))

    async def save(self, job: Job, url: str) -> dict[str, Any]:
        """Download, then measure; returns the fields to merge into the job's `video`."""
        path = self.output_dir / file_name(job)
        size = await self._download(url, path)
        facts: dict[str, Any] = {"local_path": str(path), "file_size": size}
        info, poster = await anyio.to_thread.run_sync(_measure, path, limiter=self._measuring)
        if info is not None:
            facts |= {"duration_s": round(info.duration_s, 3), "width": info.width, "height": info.height, "fps": round(info.fps, 3)}
        if poster is not None:
            self.poster_dir.mkdir(parents=True, exist_ok=True)
            poster_path = self.poster_dir / f"{job.local_id}.jpg"
            poster_path.write_bytes(poster)
            facts["poster_path"] = str(poster_path)
        return facts

    async def _download(self, url: str, path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            response = await with_retries(lambda: self.http.send(self.http.build_request("GET", url), stream=True), self.policy)
            try:
                if response.status_code >= 400:
                    raise FalError(f"Downloading the video answered HTTP {response.status_code}.", status_code=response.status_code)
                size = 0
                with temp.open("wb") as out:
                    async for chunk in response.aiter_bytes(CHUNK):
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise FalError(f"The video is larger than the {self.max_bytes} byte cap; not saved.")
                        out.write(chunk)
            finally:
                await response.aclose()
            temp.replace(path)
            return size
        finally:
            temp.unlink(missing_ok=True)


def _measure(path: Path) -> tuple[Any, bytes | None]:
    try:
        from pika_mcp import media
    except ImportError:  # pragma: no cover - media.py itself imports without the extra
        return None, None
    return media.probe(path), media.poster(path, max_bytes=POSTER_MAX_BYTES)

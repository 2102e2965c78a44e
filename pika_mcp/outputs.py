"""Finished videos saved locally: streamed to a temporary name, renamed, measured, with a poster frame."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

from pika_mcp.errors import FalError
from pika_mcp.ledger import Job
from pika_mcp.owners import private_file, private_folder
from pika_mcp.retry import RetryPolicy, with_retries

log = logging.getLogger(__name__)

MAX_VIDEO_BYTES = 1 << 30  # 1 GiB: far above any Pika output, a guard against a runaway answer
CHUNK = 1 << 16
POSTER_MAX_BYTES = 65_536  # a poster travels inside tool results; desktop clients reject results over 1 MB
# Decoding holds whole frames: measure one finished video at a time, however many jobs finish together.
MEASURE_AT_ONCE = 1
MEASURE_SECONDS = 60.0  # a child still decoding after this is stuck on a hostile file: killed


def slug(text: str, limit: int = 40) -> str:
    """Lower-case ASCII letters, digits and dashes only: safe in a file name on every platform."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "video"


def file_name(job: Job) -> str:
    """A readable name built from safe characters only (the request id comes from the backend: never trusted)."""
    day = time.strftime("%Y%m%d", time.gmtime(job.created_at))
    kind = re.sub(r"[^A-Za-z0-9_]+", "-", job.tool.removeprefix("pika_"))
    prompt = str(job.arguments.get("prompt") or job.arguments.get("pikaffect") or "")
    ident = re.sub(r"[^A-Za-z0-9]", "", job.job_id.removeprefix("local-"))[:8] or "job"
    return f"{day}_{kind}_{slug(prompt)}_{ident}.mp4"


def free_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `name` with -2, -3… before its suffix: a save never replaces an existing file."""
    stem, suffix = name.rsplit(".", 1)
    for n in range(1, 10_000):
        path = folder / (name if n == 1 else f"{stem}-{n}.{suffix}")
        if not os.path.lexists(path):
            if path.parent != folder:  # cannot happen with file_name's characters; a guard all the same
                raise ValueError(f"{name!r} is not a plain file name")
            return path
    raise FileExistsError(f"no free name for {name} in {folder}")


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
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = free_path(self.output_dir, file_name(job))
        size = await self._download(url, path)
        facts: dict[str, Any] = {"local_path": str(path), "file_size": size}
        async with self._measuring:
            info, poster = await measure(path)
        if info is not None:
            facts |= {key: info[key] for key in ("duration_s", "width", "height", "fps")}
        if poster is not None:
            private_folder(self.poster_dir)
            poster_path = self.poster_dir / f"{job.local_id}.jpg"
            poster_path.write_bytes(poster)
            private_file(poster_path)  # PIKA_MCP_HOME is private to the user (DESIGN.md, Secrets)
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


async def measure(path: Path) -> tuple[dict[str, Any] | None, bytes | None]:
    """Duration, size, frame rate and a poster, read by `python -m pika_mcp.media` in a child process.

    A decoder that fails, crashes or hangs costs only the facts: the video stays saved.
    """
    # -P: the installed pika_mcp, never a pika_mcp/ folder in the working directory
    command = [sys.executable, "-P", "-m", "pika_mcp.media", str(path), str(POSTER_MAX_BYTES)]
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console window flashing up under a desktop client
    try:
        with anyio.fail_after(MEASURE_SECONDS):
            done = await anyio.run_process(command, check=False, creationflags=flags)
        if done.returncode != 0:
            raise ValueError(done.stderr.decode(errors="replace")[-500:] or f"exit status {done.returncode}")
        answer = json.loads(done.stdout)
        jpeg = base64.b64decode(answer["poster"]) if answer.get("poster") else None
        return answer.get("info"), jpeg
    except (OSError, TimeoutError, ValueError, KeyError, TypeError) as exc:
        log.warning("could not measure %s: %s", path.name, exc)
        return None, None

"""Finished videos saved locally: streamed to a temporary name, renamed, measured, with a poster frame."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

from pika_mcp.errors import AnswerRefused, FalError
from pika_mcp.job import Job
from pika_mcp.measurer import Measurer
from pika_mcp.origins import Origins, connect_guard, origin, refusal
from pika_mcp.owners import private_file, private_folder
from pika_mcp.pace import Pace
from pika_mcp.retry import RetryPolicy, with_retries
from pika_mcp.wire import translated

log = logging.getLogger(__name__)

MAX_VIDEO_BYTES = 1 << 30  # 1 GiB: far above any Pika output, a guard against a runaway answer
CHUNK = 1 << 16
# Downloads have their own pool, apart from the tracker's status requests: slow ones never stop the polling.
DOWNLOADS_AT_ONCE = 8
MAX_REDIRECTS = 5  # each hop is judged like the first (https, public address) before it is fetched
POSTER_MAX_BYTES = 65_536  # a poster travels inside tool results; desktop clients reject results over 1 MB


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
    origins: Origins = field(default_factory=Origins)  # trusted as configured: fetched even over http, even on loopback
    pace: Pace = field(default_factory=Pace)
    _downloads: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(DOWNLOADS_AT_ONCE))
    # Decoding holds whole frames: one video at a time, however many jobs finish together, in one long-lived child.
    measurer: Measurer = field(default_factory=Measurer)

    async def save(self, job: Job, url: str) -> dict[str, Any]:
        """Download, then measure; returns the fields to merge into the job's `video`."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = free_path(self.output_dir, file_name(job))
        size = await self._download(url, path)
        facts: dict[str, Any] = {"local_path": str(path), "file_size": size}
        info, poster = await self.measurer.measure(path, POSTER_MAX_BYTES)
        if info is not None:
            facts |= {key: info[key] for key in ("duration_s", "width", "height", "fps")}
        if poster is not None:
            private_folder(self.poster_dir)
            poster_path = self.poster_dir / f"{job.local_id}.jpg"
            poster_path.write_bytes(poster)
            private_file(poster_path)  # PIKA_MCP_HOME holds prompts and videos: private to the user (0600)
            facts["poster_path"] = str(poster_path)
        return facts

    async def _download(self, url: str, path: Path) -> int:
        """Stream `url` into `path` (temporary name, then rename); every failure is a FalError, or OSError for the disk.

        Only https URLs on public addresses are fetched, besides the trusted origins; no total deadline, but a
        download that moves too slowly is given up (and retried like a broken connection).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            async with self._downloads:
                got = await with_retries(lambda: self._fetch(url, temp), self.policy)
            if got.status_code >= 400:
                raise FalError(f"Downloading the video answered HTTP {got.status_code}.", status_code=got.status_code)
            temp.replace(path)
            return got.size
        finally:
            temp.unlink(missing_ok=True)

    async def _fetch(self, url: str, temp: Path) -> _Fetched:
        """One try: the answer's status, and for a success its body written to `temp`."""
        async with self.pace.guard("The video's download") as meter:
            with translated("the video's host"):
                response = await self._open(url)
                try:
                    if response.status_code >= 400:
                        return _Fetched(response.status_code, response.headers)
                    size = 0
                    with temp.open("wb") as out:
                        async for chunk in response.aiter_bytes(CHUNK):
                            size += len(chunk)
                            meter.add(len(chunk))
                            if size > self.max_bytes:
                                raise AnswerRefused(f"The video is larger than the {self.max_bytes} byte cap; not saved.")
                            out.write(chunk)
                    return _Fetched(response.status_code, response.headers, size)
                finally:
                    await response.aclose()

    async def _open(self, url: str) -> httpx2.Response:
        """The answer to GET `url`, redirects followed by hand so that every hop is judged before it is fetched."""
        for _ in range(MAX_REDIRECTS + 1):
            if (why := refusal(url, self.origins)) is not None:
                raise AnswerRefused(f"The video's URL ({origin(url) or url[:100]}) was not fetched: {why}.")
            request = self.http.build_request("GET", url)
            if url not in self.origins:
                request.extensions["trace"] = connect_guard(request.url.raw_host.decode("ascii"))
            response = await self.http.send(request, stream=True, follow_redirects=False)
            if not response.has_redirect_location:
                return response
            url = str(response.url.join(response.headers["location"]))
            await response.aclose()
        raise AnswerRefused(f"The video's URL redirected more than {MAX_REDIRECTS} times; not fetched.")


@dataclass(frozen=True)
class _Fetched:
    """What one download try came to, for the retry table: its status and headers, and the bytes written."""

    status_code: int
    headers: httpx2.Headers
    size: int = 0

    async def aclose(self) -> None:
        """The answer is closed already."""

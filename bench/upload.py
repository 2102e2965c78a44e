"""Upload: a large file through pika_upload_file, against fal's own client and a plain streaming httpx2 upload.

Three comparisons, each uploader in its own process: at full speed to the sandbox against `fal_client`'s
upload_file (pika-mcp also computes the file's SHA-256); over a link of 1 Gbit/s (bench.sink reading at
125 MB/s across all its connections) against one streamed httpx2 POST; and, for information, the same
httpx2 POST at full speed over loopback, where the uploader, the server and pika-mcp share two cores.

The baselines run in their own processes: bench.uploaders.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcp import Client

from bench import proc
from bench.fal import ROOT, bench_env, running_fal
from bench.launch import pika_params
from bench.report import Goal, Report, Row
from bench.sink import running_sink
from bench.sizes import Sizes
from bench.stats import summarize

NAME = "4 upload"
MEMORY_GOAL = Goal("value", most=32.0)
FAL_CLIENT_GOAL = Goal("ratio", least=0.9)
LINK_GOAL = Goal("ratio", least=0.95)
LINK_RATE = 125e6  # bytes a second: 1 Gbit/s, shared by all connections
MP4_HEADER = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
CHUNK = 1 << 20  # of the file made
MB = 1e6
Upload = Callable[[str, Path], Awaitable[tuple[float, float | None]]]  # (url, file) -> seconds, memory growth


def make_file(path: Path, size: int) -> None:
    """An MP4 by its first bytes (so pika-mcp accepts it), random after that."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(MP4_HEADER)
        left = size - len(MP4_HEADER)
        while left > 0:
            out.write(os.urandom(min(CHUNK, left)))
            left -= CHUNK


def vary(path: Path, repeat: int) -> None:
    """Change the last bytes of the file."""
    with path.open("r+b") as out:
        out.seek(-16, os.SEEK_END)
        out.write(repeat.to_bytes(16, "big"))


async def _child(url: str, file: Path, *, which: tuple[str, ...] = (), settle: bool) -> tuple[float, float | None]:
    """A baseline uploader in its own process (so its memory and CPU are its own)."""
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.uploaders", *which, url, str(file), stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=bench_env()
    )  # fmt: skip
    out, _ = await done.communicate()
    if done.returncode != 0:
        raise RuntimeError(f"bench.uploaders {' '.join(which)} exited with {done.returncode}")
    answer = json.loads(out)
    if settle:
        await _settled(answer["url"])
    return answer["seconds"], answer["growth"]


async def _pika(url: str, file: Path, *, work: Path, settle: bool) -> tuple[float, float | None]:
    """pika_upload_file in a fresh server (so earlier uploads' freed pages don't hide growth)."""
    before = set(proc.children(os.getpid(), "pika_mcp"))
    async with Client(pika_params(work, url)) as pika:
        [pid] = set(proc.children(os.getpid(), "pika_mcp")) - before or [0]
        await pika.call_tool("pika_list_jobs", {})  # the call path is warm; the upload's own memory remains
        exact = proc.reset_peak(pid)  # else the growth would be measured from an earlier peak: not reported
        start = proc.memory(pid)
        started = time.perf_counter()
        result = await pika.call_tool("pika_upload_file", {"path": str(file)})
        seconds = time.perf_counter() - started
        end = proc.memory(pid)
    if result.is_error:
        raise RuntimeError(f"pika_upload_file failed: {result.content}")
    if settle:
        await _settled(result.structured_content["url"])
    return seconds, (end.peak - start.rss if exact and start and end else None)


def _flush_disk(state_dir: Path) -> None:
    """Untimed, before each upload: delete what earlier uploads stored and write back what they left in the
    page cache, so that each upload starts alike. On a virtual machine, memory the guest has not used lately
    may have gone back to the host and is slow to write into the first time; freeing the last upload's pages
    hands the next one warm memory, whoever uploads."""
    shutil.rmtree(state_dir / "files", ignore_errors=True)
    if hasattr(os, "sync"):
        os.sync()


async def _settled(url: str) -> None:
    """Untimed: wait until the sandbox has joined the parts (it answers for the file once it has), so that
    its disk work does not slow the next measurement."""
    import httpx2

    async with httpx2.AsyncClient(timeout=120.0) as http:
        (await http.get(url, headers={"Range": "bytes=0-0"})).raise_for_status()


@dataclass
class _Samples:
    speeds: list[float] = field(default_factory=list)  # MB/s
    growth: list[float] = field(default_factory=list)  # MB


async def _rounds(
    url: str, sizes: Sizes, file: Path, uploaders: dict[str, Upload], state_dir: Path | None
) -> dict[str, _Samples]:
    """The uploaders take turns on the file, in an order that rotates each round, after an uncounted warm-up round."""
    size, names = file.stat().st_size, list(uploaders)
    out = {name: _Samples() for name in names}
    for r in range(-1 if sizes.warm_up else 0, sizes.upload_repeats):  # round -1 warms everyone up and is not counted
        vary(file, r + 2)  # new content each round, so pika-mcp's content-hash cache does not skip it
        k = r % len(names)
        for name in names[k:] + names[:k]:
            if state_dir is not None:
                await asyncio.to_thread(_flush_disk, state_dir)
            seconds, grown = await uploaders[name](url, file)
            if r >= 0:
                out[name].speeds.append(size / MB / seconds)
                if grown is not None:
                    out[name].growth.append(grown / MB)
    return out


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    file = work / "pika" / "allowed" / "clip.mp4"
    await asyncio.to_thread(make_file, file, sizes.upload_bytes)
    label = f"{sizes.upload_bytes / MB:.0f} MB"
    async with running_fal(work / "fal") as fal:  # full speed: the sandbox, over loopback
        full = await _rounds(fal.url, sizes, file, {
            "pika": functools.partial(_pika, work=work / "pika", settle=True),
            "fal_client": functools.partial(_child, settle=True, which=("--fal-client",)),
            "httpx2": functools.partial(_child, settle=False),
        }, work / "fal")  # fmt: skip
    async with running_sink(LINK_RATE) as sink:
        link = await _rounds(sink, sizes, file, {
            "pika": functools.partial(_pika, work=work / "pika", settle=False),
            "httpx2": functools.partial(_child, settle=False),
        }, None)  # fmt: skip
    pika, fal_client, plain = full["pika"], full["fal_client"], full["httpx2"]
    if pika.growth:
        g, pg = summarize(pika.growth), summarize(plain.growth)
        report.add(Row(NAME, f"peak memory growth, {label} (baseline httpx2)", g.median, "MB", pg.median, MEMORY_GOAL, g, pg))
    else:
        report.note(NAME, proc.NOTE)
    s, b = summarize(pika.speeds), summarize(fal_client.speeds)
    report.add(
        Row(NAME, f"throughput, {label}, full speed (baseline fal_client)", s.median, "MB/s", b.median, FAL_CLIENT_GOAL, s, b)
    )
    s, b = summarize(link["pika"].speeds), summarize(link["httpx2"].speeds)
    report.add(Row(NAME, f"throughput, {label}, 1 Gbit/s link (baseline httpx2)", s.median, "MB/s", b.median, LINK_GOAL, s, b))
    s, b = summarize(pika.speeds), summarize(plain.speeds)
    report.add(Row(NAME, f"throughput, {label}, loopback (baseline httpx2)", s.median, "MB/s", b.median, None, s, b))
    report.note(
        NAME, "pika-mcp: the pika_upload_file tool over stdio (policy check, SHA-256, upload), memory of the server process"
    )
    report.note(NAME, "fal_client: fal_client.upload_file in its own process, its host constants pointed at the sandbox")
    report.note(NAME, "httpx2: one streaming POST of 1 MiB chunks in its own process, memory of that process")
    report.note(NAME, f"1 Gbit/s link: bench.sink reading at most {LINK_RATE / MB:.0f} MB/s across all connections, "
                      f"answering each upload once its last byte is read")  # fmt: skip
    if fal_client.growth:
        report.note(NAME, f"fal_client's peak memory growth: median {summarize(fal_client.growth).median:.0f} MB")

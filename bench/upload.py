"""Upload: a large file through pika_upload_file, against a plain streaming httpx2 upload to the same sandbox.

`python -m bench.upload URL FILE` is the baseline: fal's storage token, then one streamed POST of the
file in 1 MiB chunks; it prints its own seconds and peak memory growth as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from mcp import Client

from bench import proc
from bench.fal import ROOT, bench_env, running_fal
from bench.launch import KEY, pika_params
from bench.report import Goal, Report, Row
from bench.sink import running_sink
from bench.sizes import Sizes
from bench.stats import summarize

NAME = "4 upload"
MEMORY_GOAL = Goal("value", most=32.0)
SPEED_GOAL = Goal("ratio", least=0.8)
MP4_HEADER = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
CHUNK = 1 << 20
MB = 1e6


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


async def _plain(url: str, file: Path) -> tuple[float, float]:
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.upload", url, str(file), stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=bench_env()
    )
    out, _ = await done.communicate()
    answer = json.loads(out)
    return answer["seconds"], answer["growth"]


async def _pika(url: str, work: Path, file: Path, *, settle: bool = True) -> tuple[float, float | None, bool]:
    """pika_upload_file in a fresh server (so earlier uploads' freed pages don't hide growth)."""
    before = set(proc.children(os.getpid(), "pika_mcp"))
    async with Client(pika_params(work, url)) as pika:
        [pid] = set(proc.children(os.getpid(), "pika_mcp")) - before or [0]
        await pika.call_tool("pika_list_jobs", {})  # the call path is warm; the upload's own memory remains
        exact = proc.reset_peak(pid)
        start = proc.memory(pid)
        started = time.perf_counter()
        result = await pika.call_tool("pika_upload_file", {"path": str(file)})
        seconds = time.perf_counter() - started
        end = proc.memory(pid)
    if result.is_error:
        raise RuntimeError(f"pika_upload_file failed: {result.content}")
    if settle:
        await _settled(result.structured_content["url"])
    return seconds, (end.peak - start.rss if start and end else None), exact


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
    its disk work does not slow the next measurement, ours or the baseline's."""
    import httpx2

    async with httpx2.AsyncClient(timeout=120.0) as http:
        (await http.get(url, headers={"Range": "bytes=0-0"})).raise_for_status()


@dataclass
class _Samples:
    speeds: list[float] = field(default_factory=list)
    plain_speeds: list[float] = field(default_factory=list)
    growth: list[float] = field(default_factory=list)
    plain_growth: list[float] = field(default_factory=list)
    exact: bool = True


async def _rounds(url: str, sizes: Sizes, work: Path, file: Path, state_dir: Path | None) -> _Samples:
    """pika-mcp and the baseline upload the file in turn, after an uncounted warm-up round."""
    size, out = file.stat().st_size, _Samples()
    for r in range(-1, sizes.upload_repeats):  # round -1 warms both up and is not counted
        vary(file, r + 2)  # new content each time, so pika-mcp's content-hash cache does not skip it
        for who in ("pika", "plain") if r % 2 == 0 else ("plain", "pika"):
            if state_dir is not None:
                await asyncio.to_thread(_flush_disk, state_dir)
            if r < 0:
                await (_plain(url, file) if who == "plain" else _pika(url, work / "pika", file, settle=state_dir is not None))
            elif who == "plain":
                seconds, grew = await _plain(url, file)
                out.plain_speeds.append(size / MB / seconds)
                out.plain_growth.append(grew / MB)
            else:
                seconds, grown, reset = await _pika(url, work / "pika", file, settle=state_dir is not None)
                out.exact = out.exact and reset
                out.speeds.append(size / MB / seconds)
                if grown is not None:
                    out.growth.append(grown / MB)
    return out


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    file = work / "pika" / "allowed" / "clip.mp4"
    await asyncio.to_thread(make_file, file, sizes.upload_bytes)
    async with running_fal(work / "fal") as fal:
        at_sandbox = await _rounds(fal.url, sizes, work, file, work / "fal")
    async with running_sink() as sink:
        at_sink = await _rounds(sink, sizes, work, file, None)
    label = f"{sizes.upload_bytes / MB:.0f} MB"
    if at_sandbox.growth:
        g, pg = summarize(at_sandbox.growth), summarize(at_sandbox.plain_growth)
        report.add(Row(NAME, f"peak memory growth, {label}", g.median, "MB", pg.median, MEMORY_GOAL, g, pg))
    else:
        report.note(NAME, proc.NOTE)
    s, ps = summarize(at_sandbox.speeds), summarize(at_sandbox.plain_speeds)
    report.add(Row(NAME, f"throughput, {label}", s.median, "MB/s", ps.median, SPEED_GOAL, s, ps))
    s, ps = summarize(at_sink.speeds), summarize(at_sink.plain_speeds)
    report.add(Row(NAME, f"throughput, {label}, minimal server", s.median, "MB/s", ps.median, None, s, ps))
    report.note(NAME, "pika-mcp: the pika_upload_file tool over stdio (policy check, sha256, upload), memory of the server process")
    report.note(NAME, "baseline: httpx2 streaming POST of 1 MiB chunks in its own process, memory of that process")
    report.note(NAME, "minimal server: bench.sink, which reads and drops each body (what the uploaders do when the server is no bottleneck)")
    if not (at_sandbox.exact and at_sink.exact):
        report.note(NAME, "could not reset VmHWM: growth is measured from the process's earlier peak")


async def _upload(url: str, file: Path) -> dict[str, float]:
    import httpx2

    async def chunks() -> AsyncIterator[bytes]:
        with file.open("rb") as source:
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                yield chunk

    async with httpx2.AsyncClient(timeout=120.0) as http:
        pid = os.getpid()
        proc.reset_peak(pid)
        start = proc.memory(pid)
        started = time.perf_counter()
        token = (await http.post(f"{url}/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={},
                                 headers={"Authorization": f"Key {KEY}"})).json()  # fmt: skip
        headers = {"Authorization": f"{token['token_type']} {token['token']}", "Content-Type": "video/mp4",
                   "X-Fal-File-Name": file.name, "Content-Length": str(file.stat().st_size)}  # fmt: skip
        answer = await http.post(f"{token['base_url']}/files/upload", content=chunks(), headers=headers)
        answer.raise_for_status()
        seconds = time.perf_counter() - started
        end = proc.memory(pid)
    growth = float(end.peak - start.rss) if start and end else float("nan")
    return {"seconds": seconds, "growth": growth}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_upload(sys.argv[1], Path(sys.argv[2])))))

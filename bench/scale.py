"""Scale: one pika-mcp process tracking many live jobs: memory, CPU, status requests, and update latency."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

from mcp import Client

from bench import proc
from bench.fal import running_fal
from bench.launch import TOOL, pika_params
from bench.report import Goal, Report, Row
from bench.saved import is_saved, saved_answer
from bench.sizes import Sizes
from bench.stats import summarize

NAME = "3 scale"
QUEUE_SECONDS = 900.0  # background jobs stay live for the whole measurement
RUN_SECONDS = 300.0
SUBMITTERS = 16  # concurrent generation calls while creating the background jobs
WATCHED_QUEUE = 1.0
WATCHED_RUN_STEP = 0.5  # watched jobs finish one after another
MB = 1e6


async def _submit(pika: Client, prompt: str) -> str:
    result = await pika.call_tool(TOOL, {"prompt": prompt, "wait_seconds": 0})
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"submit failed: {result.content}")
    return str(result.structured_content["job_id"])


async def _wait(pika: Client, job_id: str, seen: dict[str, float]) -> None:
    seen[job_id], _ = await saved_answer(pika, job_id)


async def listen_until_saved(pika: Client, job_ids: list[str], seen: dict[str, float], ready: asyncio.Event) -> None:
    """Subscribed to each job: an update, then a read of the job, until the read is the saved answer."""
    uris = {f"pika://jobs/{j}": j for j in job_ids}
    async with pika.listen(resource_subscriptions=list(uris)) as subscription:
        ready.set()
        async for event in subscription:
            job_id = uris.get(getattr(event, "uri", ""))
            if job_id is None or job_id in seen:
                continue
            read = await pika.read_resource(f"pika://jobs/{job_id}", cache_mode="bypass")
            at = time.time()
            view = json.loads(read.contents[0].text)  # type: ignore[union-attr]
            if view["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"watched job {job_id} ended {view['status']}")
            if is_saved(view):
                seen[job_id] = at
            if all(j in seen for j in job_ids):
                return


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    run = uuid.uuid4().hex[:8]
    n = sizes.scale_jobs
    async with running_fal(work / "fal") as fal:
        await fal.configure(queue_seconds=QUEUE_SECONDS, run_seconds=RUN_SECONDS)
        before = set(proc.children(os.getpid(), "pika_mcp"))
        async with Client(pika_params(work / "pika", fal.url)) as pika:
            [pid] = set(proc.children(os.getpid(), "pika_mcp")) - before or [0]
            idle = proc.memory(pid)
            limit = asyncio.Semaphore(SUBMITTERS)

            async def one(i: int) -> str:
                async with limit:
                    return await _submit(pika, f"bench {run} background {i}")

            started = time.perf_counter()
            background = await asyncio.gather(*(one(i) for i in range(n)))
            submit_seconds = time.perf_counter() - started
            submitted = proc.memory(pid)

            await fal.reset()  # count only the window's requests
            cpu0, t0 = proc.cpu_seconds(pid), time.perf_counter()
            rss: list[int] = []
            while (left := sizes.scale_window - (time.perf_counter() - t0)) > 0:
                await asyncio.sleep(min(1.0, left))
                if (m := proc.memory(pid)) is not None:
                    rss.append(m.rss)
            cpu1, t1 = proc.cpu_seconds(pid), time.perf_counter()
            requests, _ = await fal.received()
            live = set(background)
            polls = sum(1 for r in requests if r["op"] in ("status", "stream") and r["path"].split("/")[4] in live)

            await fal.configure(queue_seconds=WATCHED_QUEUE)
            watched: list[str] = []
            for i in range(sizes.scale_watched):
                await fal.configure(run_seconds=sizes.scale_watched_run + i * WATCHED_RUN_STEP)
                watched.append(await _submit(pika, f"bench {run} watched {i}"))
            waited, listened = watched[::2], watched[1::2]
            seen: dict[str, float] = {}
            ready = asyncio.Event()
            async with asyncio.timeout(120 + len(watched) * WATCHED_RUN_STEP):
                listener = asyncio.create_task(listen_until_saved(pika, listened, seen, ready)) if listened else None
                if listener is not None:
                    await ready.wait()
                await asyncio.gather(*(_wait(pika, j, seen) for j in waited))
                if listener is not None:
                    await listener
            latency = {j: (seen[j] - await fal.finished_at(j)) * 1000 for j in watched}
            peak = proc.memory(pid)
    minutes = (t1 - t0) / 60
    per_job = polls / n / minutes
    report.add(
        Row(NAME, f"status requests per background job per minute ({n} jobs)", per_job, "/min", goal=Goal("value", most=12))
    )
    if rss and cpu0 is not None and cpu1 is not None:
        report.add(Row(NAME, f"resident memory, {n} live jobs", max(rss) / MB, "MB", goal=Goal("value", most=150),
                       summary=summarize([r / MB for r in rss])))  # fmt: skip
        report.add(
            Row(NAME, f"CPU share of one core, {n} live jobs", (cpu1 - cpu0) / (t1 - t0) * 100, "%", goal=Goal("value", most=25))
        )
        if idle and submitted and peak:
            report.add(Row(NAME, f"resident memory peak, {n} live + {len(watched)} finishing", peak.peak / MB, "MB",
                           goal=Goal("value", most=150)))  # fmt: skip
            report.note(NAME, f"RSS idle {idle.rss / MB:.0f} MB; peak (VmHWM) {submitted.peak / MB:.0f} MB after submitting, "
                              f"{peak.peak / MB:.0f} MB once watched jobs finished (download, probe, poster), "
                              f"{peak.rss / MB:.0f} MB resident at the end")  # fmt: skip
    else:
        report.note(NAME, proc.NOTE)
    lat = summarize(list(latency.values()))
    report.add(Row(NAME, "update latency to the saved answer p50, watched jobs", lat.median, "ms", summary=lat))
    report.add(
        Row(
            NAME,
            "update latency to the saved answer p95, watched jobs",
            lat.p95,
            "ms",
            goal=Goal("value", most=1000),
            summary=lat,
        )
    )
    wait_lat = summarize([latency[j] for j in waited])
    listen_lat = summarize([latency[j] for j in listened])
    report.note(
        NAME,
        f"{n} jobs submitted in {submit_seconds:.1f} s ({SUBMITTERS} concurrent calls); counted over the "
        f"{t1 - t0:.0f} s right after, the busiest stretch (background polls back off from 5 s to 30 s)",
    )
    report.note(NAME, f"latency = client holds the saved answer (succeeded, local file and poster on disk) - sandbox's closing log "
                      f"timestamp; pika_wait_for_job p50 {wait_lat.median:.0f} ms (n={wait_lat.n}), "
                      f"subscriptions/listen + read p50 {listen_lat.median:.0f} ms (n={listen_lat.n})")  # fmt: skip

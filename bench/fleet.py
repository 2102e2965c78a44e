"""Fleet: peers on one PostgreSQL database sharing many live jobs: memory and CPU per peer, status requests across the
fleet, update latency on a peer other than the tracker, takeover of a killed peer's jobs, and submits per second."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench import fleetcall, pg, proc
from bench.fal import Fal, running_fal
from bench.launch import TOOL
from bench.peers import TOKENS, Peer, call, clients, peers
from bench.report import Goal, Report, Row
from bench.saved import saved_answer
from bench.scale import listen_until_saved
from bench.sizes import Sizes
from bench.stats import summarize
from pika_mcp.job import RUNNING, SAVING_NOTE, SUCCEEDED

NAME = fleetcall.NAME
QUEUE_SECONDS = 1800.0  # background jobs stay live for the whole measurement
RUN_SECONDS = 300.0
SUBMITTERS = 16  # concurrent generation calls across the fleet while creating the background jobs
WATCHED_QUEUE = 1.0
WATCHED_RUN_STEP = 0.5  # watched jobs finish one after another
TAKEOVER_DEADLINE = 120.0
WATCHED_DEADLINE = 120.0  # seconds for every watched job to be seen saved (plus their staggered run times)
TAKEOVER_GOAL = Goal("value", most=30.0)
CHECK_SECONDS = 0.5
PROGRESS_EVERY = 5.0  # seconds between the noted counts of orphans polled again
MB = 1e6
LIVE = "status IN ('queued', 'running')"


def _first(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return list(conn.execute(sql, params).fetchall())


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    lease = {"PIKA_MCP_LEASE_SECONDS": sizes.fleet_lease} if sizes.fleet_lease else {}
    try:
        async with pg.cluster() as base, running_fal(work / "fal") as fal:
            await fal.configure(queue_seconds=QUEUE_SECONDS, run_seconds=RUN_SECONDS)
            await fleetcall.overhead(report, sizes, work / "overhead", fal, base, **lease)
            await fleetcall.statements(report, sizes, work / "count", fal, base, **lease)
            try:
                await _fleet(report, sizes, work / "fleet", fal, base, **lease)
            except BaseExceptionGroup as group:  # out of a dozen nested clients: say what failed, not the nesting
                raise _first(group) from None
    except pg.Unavailable as exc:
        report.note(NAME, f"not measured: {exc}")
    report.note(NAME, f"lease {sizes.fleet_lease or 'the default 20'} s (PIKA_MCP_LEASE_SECONDS)")


async def _fleet(report: Report, sizes: Sizes, work: Path, fal: Fal, base: str, **lease: str) -> None:
    run, n, count = uuid.uuid4().hex[:8], sizes.fleet_jobs, sizes.fleet_peers
    async with pg.database(base, "fleet") as url, peers(work, fal.url, [url] * count, **lease) as (servers, _):
        async with clients([s.url for s in servers]) as grid:
            limit = asyncio.Semaphore(SUBMITTERS)

            async def one(i: int) -> dict[str, Any]:
                async with limit:  # round robin over the peers, and over the people on each
                    client = grid[i % count][(i // count) % len(TOKENS)]
                    return await call(client, TOOL, {"prompt": f"bench {run} background {i}", "wait_seconds": 0})

            started = time.perf_counter()
            answers = await asyncio.gather(*(one(i) for i in range(n)))
            submit_seconds = time.perf_counter() - started
            failed = Counter((a.get("error") or {}).get("type", "?") for a in answers if a["status"] == "failed")
            background = [str(a["job_id"]) for a in answers if a["status"] != "failed"]
            tracker_of: dict[str, str] = dict(
                _query(url, "SELECT request_id, tracker FROM jobs WHERE request_id = ANY(%s)", (background,))
            )

            await fal.reset()  # count only the window's requests
            cpu0, t0 = [proc.cpu_seconds(s.pid) for s in servers], time.perf_counter()
            rss: list[list[int]] = [[] for _ in servers]
            while (left := sizes.fleet_window - (time.perf_counter() - t0)) > 0:
                await asyncio.sleep(min(1.0, left))
                for k, s in enumerate(servers):
                    if (m := proc.memory(s.pid)) is not None:
                        rss[k].append(m.rss)
            cpu1, t1 = [proc.cpu_seconds(s.pid) for s in servers], time.perf_counter()
            requests, _ = await fal.received()
            polled = Counter(r["path"].split("/")[4] for r in requests if r["op"] in ("status", "stream"))
            polls = {job: polled[job] for job in background}

            latency, kinds = await _updates(report, url, sizes, fal, servers, grid, run)
            takeover = await _takeover(url, fal, servers[0], background, tracker_of)

    minutes = (t1 - t0) / 60
    report.add(Row(NAME, f"status requests per job per minute across the fleet ({n} jobs, {count} peers)",
                   sum(polls.values()) / n / minutes, "/min", goal=Goal("value", most=12)))  # fmt: skip
    n = len(background)
    by_peer = Counter(tracker_of.get(job) for job in background)
    for k, s in enumerate(servers):
        mine = [job for job in background if tracker_of.get(job) == s.peer_id]
        c0, c1 = cpu0[k], cpu1[k]
        if rss[k] and c0 is not None and c1 is not None:
            report.add(Row(NAME, f"resident memory, peer {k + 1} ({len(mine)} of {n} live jobs)", max(rss[k]) / MB, "MB",
                           summary=summarize([r / MB for r in rss[k]])))  # fmt: skip
            report.add(Row(NAME, f"CPU share of one core, peer {k + 1}", (c1 - c0) / (t1 - t0) * 100, "%"))
        per_job = sum(polls[j] for j in mine) / max(1, len(mine)) / minutes
        report.note(
            NAME, f"peer {k + 1} ({s.peer_id}): tracks {len(mine)} jobs, {per_job:.2f} status requests per job per minute"
        )
    if not proc.available():
        report.note(NAME, proc.NOTE)
    if set(by_peer) - {s.peer_id for s in servers}:
        report.note(NAME, f"jobs tracked by no running peer after submitting: {by_peer}")
    calls = sizes.fleet_jobs
    report.add(Row(NAME, f"submits per second across the fleet ({SUBMITTERS} concurrent calls)", calls / submit_seconds, "/s"))
    if failed:
        report.note(NAME, f"{sum(failed.values())} of {n} submits answered `failed` ({dict(failed)}); the other "
                          f"{len(background)} are the live jobs counted")  # fmt: skip
    lat = summarize(latency)
    report.note(NAME, f"update latency: pika_wait_for_job on peer 2 p50 {summarize(kinds[0]).median:.0f} ms (n={len(kinds[0])}), "
                      f"subscription on peer {count} and a read p50 {summarize(kinds[1]).median:.0f} ms (n={len(kinds[1])}); "
                      "jobs submitted on (and tracked by) peer 1; from the sandbox's closing log line to the saved answer")  # fmt: skip
    metric = "update latency to the saved answer on a non-tracker peer"
    report.add(Row(NAME, f"{metric} p50", lat.median, "ms", summary=lat))
    report.add(Row(NAME, f"{metric} p95", lat.p95, "ms", goal=Goal("value", most=1000), summary=lat))
    claimed, followed, adopters, progress = takeover
    report.add(Row(NAME, "takeover of a SIGKILLed peer's jobs: all claimed by others", claimed, "s", goal=TAKEOVER_GOAL))
    report.add(Row(NAME, "takeover of a SIGKILLed peer's jobs: all polled by their new tracker", followed, "s",
                   goal=TAKEOVER_GOAL))  # fmt: skip
    report.note(NAME, f"{calls} jobs submitted in {submit_seconds:.1f} s; requests and CPU counted over the {t1 - t0:.0f} s "
                      f"right after (the busiest stretch: background polls back off from 5 s to 30 s); orphans went to "
                      f"{dict(adopters)}")  # fmt: skip
    report.note(NAME, f"takeover: {sum(adopters.values())} orphaned jobs, how many polled again by their new tracker: {progress}")


async def _updates(
    report: Report, url: str, sizes: Sizes, fal: Fal, servers: list[Peer], grid: list[list[Any]], run: str
) -> tuple[list[float], tuple[list[float], list[float]]]:
    """Watched jobs submitted on the first peer (their tracker), waited on with pika_wait_for_job on the second and
    subscribed to on the last; ms from the sandbox finishing each to the saved answer there. A job not seen saved by
    the deadline counts as the deadline (a FAIL), and what the ledger says of it is noted."""
    await fal.configure(queue_seconds=WATCHED_QUEUE)
    watched: list[str] = []
    for i in range(sizes.fleet_watched):
        await fal.configure(run_seconds=sizes.scale_watched_run + i * WATCHED_RUN_STEP)
        watched.append(str((await call(grid[0][0], TOOL, {"prompt": f"bench {run} watched {i}", "wait_seconds": 0}))["job_id"]))
    await fal.configure(queue_seconds=QUEUE_SECONDS, run_seconds=RUN_SECONDS)
    waiter, listener_client = grid[1 % len(servers)][0], grid[-1][0]
    waited, listened = watched[::2], watched[1::2]
    seen: dict[str, float] = {}
    ready = asyncio.Event()

    async def wait(job_id: str) -> None:
        seen[job_id], _ = await saved_answer(waiter, job_id)

    deadline = WATCHED_DEADLINE + len(watched) * WATCHED_RUN_STEP
    listener = asyncio.create_task(listen_until_saved(listener_client, listened, seen, ready)) if listened else None
    try:
        async with asyncio.timeout(deadline):
            if listener is not None:
                await ready.wait()
            await asyncio.gather(*(wait(j) for j in waited))
            if listener is not None:
                await listener
    except TimeoutError:
        if listener is not None:
            listener.cancel()
        unseen = [j for j in watched if j not in seen]
        rows = await asyncio.to_thread(
            _query, url, "SELECT request_id, status, tracker, video->>'local_path' IS NOT NULL FROM jobs "
            "WHERE request_id = ANY(%s)", (unseen,)
        )  # fmt: skip
        report.note(NAME, f"update latency: {len(unseen)} of {len(watched)} watched jobs not seen saved within {deadline:g} s "
                          f"(counted as {deadline:g} s): {[(w in waited and 'wait' or 'listen', *r) for w, *r in rows]}")  # fmt: skip
    finished = {j: await fal.finished_at(j) for j in seen}
    latency = {j: (seen[j] - finished[j]) * 1000 if j in seen else deadline * 1000 for j in watched}
    await _stages(report, url, finished)
    return list(latency.values()), ([latency[j] for j in waited], [latency[j] for j in listened])


async def _stages(report: Report, url: str, finished: dict[str, float]) -> None:
    """Where the update latency goes: the tracker hearing fal finish (its `saving` event), the video saved (its
    `succeeded` event), from the ledger's event times (the peers' clocks: the same machine here)."""
    rows = await asyncio.to_thread(
        _query, url, "SELECT j.request_id, e.status, e.note, e.at FROM events e JOIN jobs j USING (local_id) "
        "WHERE j.request_id = ANY(%s)", (list(finished),)
    )  # fmt: skip
    heard = [(at - finished[rid]) * 1000 for rid, status, note, at in rows if status == RUNNING and note == SAVING_NOTE]
    saved = [(at - finished[rid]) * 1000 for rid, status, note, at in rows if status == SUCCEEDED]
    report.note(NAME, f"update latency, where it goes (p50, p95 from fal finishing): the tracker records fal's answer "
                      f"{summarize(heard).median:.0f}, {summarize(heard).p95:.0f} ms; the video saved "
                      f"{summarize(saved).median:.0f}, {summarize(saved).p95:.0f} ms; the rest is hearing it on the other peer")  # fmt: skip


async def _takeover(
    url: str, fal: Fal, victim: Peer, background: list[str], tracker_of: dict[str, str]
) -> tuple[float, float, Counter[str], str]:
    """SIGKILL one peer; seconds until no live job names it as tracker, and until each of its jobs was polled again."""
    orphans = {job for job in background if tracker_of.get(job) == victim.peer_id}
    victim.process.send_signal(signal.SIGKILL)
    await victim.process.wait()
    killed = time.perf_counter()
    await fal.reset()
    claimed: float | None = None
    followed: float | None = None
    polled: set[str] = set()
    progress: list[str] = []
    noted = -PROGRESS_EVERY
    sql = f"SELECT count(*) FROM jobs WHERE {LIVE} AND tracker = %s"
    while followed is None and (elapsed := time.perf_counter() - killed) < TAKEOVER_DEADLINE:
        await asyncio.sleep(CHECK_SECONDS)
        if claimed is None and (await asyncio.to_thread(_query, url, sql, (victim.peer_id,)))[0][0] == 0:
            claimed = time.perf_counter() - killed
        if claimed is not None:
            requests, _ = await fal.received()
            polled |= {r["path"].split("/")[4] for r in requests if r["op"] in ("status", "stream")}
            done = len(orphans & polled)
            if done == len(orphans) or elapsed >= noted + PROGRESS_EVERY:
                progress.append(f"{done} at {elapsed:.0f} s")
                noted = elapsed
            if orphans <= polled:
                followed = time.perf_counter() - killed
    rows = await asyncio.to_thread(_query, url, "SELECT tracker FROM jobs WHERE request_id = ANY(%s)", (list(orphans),))
    # Not done by the deadline: the deadline is the figure (a FAIL against the goal).
    return claimed or elapsed, followed or elapsed, Counter(str(r[0]) for r in rows), ", ".join(progress)

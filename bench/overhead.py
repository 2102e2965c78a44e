"""Call overhead: a generation call with wait_seconds=0 over stdio, against an SDK server making the same POST."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp import Client

from bench.fal import running_fal
from bench.launch import TOOL, baseline_params, pika_params
from bench.report import Goal, Report, Row
from bench.sizes import Sizes
from bench.stats import summarize

NAME = "1 call overhead"
GOAL = Goal("ratio", most=1.25)


Timed = Callable[[], Awaitable[float]]


async def alternated(sizes: Sizes, ours: Timed, theirs: Timed) -> tuple[list[float], list[float], list[str]]:
    """Warm-up, then rounds of calls alternated call by call (so drift hits both alike): every call's seconds on
    each side, and each round's median ratio."""
    for _ in range(sizes.overhead_warmup):
        await ours()
        await theirs()
    mine_all: list[float] = []
    theirs_all: list[float] = []
    rounds: list[str] = []
    for r in range(sizes.overhead_rounds):
        mine: list[float] = []
        base_round: list[float] = []
        for i in range(sizes.overhead_calls):
            if (r + i) % 2 == 0:
                mine.append(await ours())
                base_round.append(await theirs())
            else:
                base_round.append(await theirs())
                mine.append(await ours())
        mine_all += mine
        theirs_all += base_round
        rounds.append(f"{summarize(mine).median / summarize(base_round).median:.2f}")
    return mine_all, theirs_all, rounds


async def _timed(client: Client, tool: str, args: dict[str, Any]) -> float:
    started = time.perf_counter()
    result = await client.call_tool(tool, args)
    elapsed = time.perf_counter() - started
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content}")
    return elapsed


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    run = uuid.uuid4().hex[:8]
    async with running_fal(work / "fal") as fal:
        await fal.configure(queue_seconds=3600.0, run_seconds=600.0)  # no job finishes while we measure
        async with Client(pika_params(work / "pika", fal.url)) as pika, Client(baseline_params(fal.url)) as base:
            await pika.list_tools()
            await base.list_tools()
            calls = 0

            def prompt() -> str:
                nonlocal calls
                calls += 1
                return f"bench {run} call {calls}"  # a new prompt each time: no deduplication

            ours, theirs, rounds = await alternated(
                sizes,
                lambda: _timed(pika, TOOL, {"prompt": prompt(), "wait_seconds": 0}),
                lambda: _timed(base, "generate", {"prompt": prompt()}),
            )
    s, b = summarize([x * 1000 for x in ours]), summarize([x * 1000 for x in theirs])
    report.add(Row(NAME, "median latency", s.median, "ms", b.median, GOAL, s, b))
    report.add(Row(NAME, "p99 latency", s.p99, "ms", b.p99, GOAL, s, b))
    report.note(NAME, f"per-round median ratios: {', '.join(rounds)}; baseline = SDK MCPServer tool doing one httpx2 POST")

"""One generation call on a peer backed by PostgreSQL: its latency against the same call on SQLite, and the database
statements (round trips) and transactions it costs."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from mcp import Client

from bench import pg
from bench.fal import Fal
from bench.launch import TOOL
from bench.peers import call, clients, peers
from bench.report import Goal, Report, Row
from bench.sizes import Sizes
from bench.stats import summarize

NAME = "8 fleet"
GOAL = Goal("ratio", most=1.5)
IDLE_SECONDS = 3.0  # statements of the background (lease, adoption, listening) counted over this long, then subtracted


async def _timed(client: Client, prompt: str) -> float:
    started = time.perf_counter()
    await call(client, TOOL, {"prompt": prompt, "wait_seconds": 0})
    return time.perf_counter() - started


async def overhead(report: Report, sizes: Sizes, work: Path, fal: Fal, base: str, **lease: str) -> None:
    """The same call alternated between a PostgreSQL peer and a SQLite server, as measurement 1 alternates its two."""
    run = uuid.uuid4().hex[:8]
    async with pg.database(base, "overhead") as url, peers(work, fal.url, [url, None], **lease) as (servers, _):
        async with clients([s.url for s in servers]) as grid:
            on_pg, on_sqlite = grid[0][0], grid[1][0]
            calls = 0

            async def one(client: Client) -> float:
                nonlocal calls
                calls += 1
                return await _timed(client, f"bench {run} call {calls}")  # a new prompt each time: no deduplication

            for _ in range(sizes.overhead_warmup):
                await one(on_pg)
                await one(on_sqlite)
            ours: list[float] = []
            theirs: list[float] = []
            rounds: list[str] = []
            for r in range(sizes.overhead_rounds):
                mine: list[float] = []
                base_round: list[float] = []
                for i in range(sizes.overhead_calls):  # alternate call by call, so drift hits both alike
                    first, second = (on_pg, on_sqlite) if (r + i) % 2 == 0 else (on_sqlite, on_pg)
                    for client in (first, second):
                        (mine if client is on_pg else base_round).append(await one(client))
                ours += mine
                theirs += base_round
                rounds.append(f"{summarize(mine).median / summarize(base_round).median:.2f}")
    s, b = summarize([x * 1000 for x in ours]), summarize([x * 1000 for x in theirs])
    metric = "generation call on a PostgreSQL peer (baseline: on SQLite)"
    report.add(Row(NAME, f"{metric}, median", s.median, "ms", b.median, GOAL, s, b))
    report.add(Row(NAME, f"{metric}, p95", s.p95, "ms", b.p95, None, s, b))
    report.note(NAME, f"call overhead: both `serve --http --stateless` on loopback, one client each, calls alternated; "
                      f"per-round median ratios {', '.join(rounds)}")  # fmt: skip


async def statements(report: Report, sizes: Sizes, work: Path, fal: Fal, base: str, **lease: str) -> None:
    """Statements the database logs (`log_statement = all` on a database of its own) for a series of calls, less what
    the peer's background sends in the same time (measured idle just before)."""
    run = uuid.uuid4().hex[:8]
    async with pg.database(base, "count", log_statement="all") as url:
        log = pg.server_log(url)
        if log is None:
            report.note(NAME, "database round trips per call not counted: the cluster's log is not readable here")
            return
        counter = pg.Statements(url, log)
        async with peers(work, fal.url, [url], **lease) as (servers, _), clients([servers[0].url]) as grid:
            client = grid[0][0]
            await _timed(client, f"bench {run} warm-up")
            first = counter.mark()
            await asyncio.sleep(IDLE_SECONDS)
            second = counter.mark()
            started = time.perf_counter()
            for i in range(sizes.fleet_counted_calls):
                await _timed(client, f"bench {run} counted {i}")
            busy = time.perf_counter() - started
            third = counter.mark()
        idle, idle_begins = counter.between(first, second)
        sent, begins = counter.between(second, third)
    share = busy / IDLE_SECONDS  # background statements expected while the calls ran
    n = sizes.fleet_counted_calls
    per_call = (sent - idle * share) / n
    report.add(Row(NAME, "database round trips per generation call (statements)", per_call, ""))
    report.add(Row(NAME, "database transactions per generation call", (begins - idle_begins * share) / n, ""))
    report.note(NAME, f"round trips: {sent} statements logged over {n} calls ({busy:.2f} s) less {idle} over "
                      f"{IDLE_SECONDS:g} s idle, scaled to the calls' time; one statement is one round trip "
                      "(psycopg sends one at a time); BEGIN and COMMIT included")  # fmt: skip

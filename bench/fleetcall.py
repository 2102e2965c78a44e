"""One generation call on a peer backed by PostgreSQL: its latency against the same call on SQLite, and the database
statements (round trips) and transactions it costs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

from mcp import Client

from bench import pg
from bench.fal import Fal
from bench.launch import TOOL
from bench.overhead import alternated
from bench.peers import call, clients, peers
from bench.report import Goal, Report, Row
from bench.sizes import Sizes
from bench.stats import summarize

NAME = "8 fleet"
GOAL = Goal("ratio", most=1.5)
IDLE_SECONDS = 5.0  # statements of the background (lease, adoption, listening) counted over this long, then subtracted
SETTLE_SECONDS = 2.0  # after the calls, for the other peers to hear them
HEARD = "SELECT * FROM jobs WHERE local_id = ANY("  # pgstore.get_many: a peer reading the jobs others changed
HEARD_ROUND_TRIPS = 3  # that read is a transaction of its own: BEGIN, SELECT, COMMIT


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

            def prompt() -> str:
                nonlocal calls
                calls += 1
                return f"bench {run} call {calls}"  # a new prompt each time: no deduplication

            ours, theirs, rounds = await alternated(sizes, lambda: _timed(on_pg, prompt()), lambda: _timed(on_sqlite, prompt()))
    s, b = summarize([x * 1000 for x in ours]), summarize([x * 1000 for x in theirs])
    metric = "generation call on a PostgreSQL peer (baseline: on SQLite)"
    report.add(Row(NAME, f"{metric}, median", s.median, "ms", b.median, GOAL, s, b))
    report.add(Row(NAME, f"{metric}, p95", s.p95, "ms", b.p95, None, s, b))
    report.note(NAME, f"call overhead: both `serve --http --stateless` on loopback, one client each, calls alternated; "
                      f"per-round median ratios {', '.join(rounds)}")  # fmt: skip


def _kinds(found: list[str]) -> Counter[str]:
    """All statements; transactions (their BEGINs); the reads by which a peer hears another's change (fleet.py)."""
    kinds: Counter[str] = Counter(all=len(found))
    kinds["transactions"] = sum(text.strip() == "BEGIN" for text in found)
    kinds["heard"] = sum(text.startswith(HEARD) and "owner" not in text for text in found)
    return kinds


async def statements(report: Report, sizes: Sizes, work: Path, fal: Fal, base: str, **lease: str) -> None:
    """Statements the database logs (`log_statement = all` on a database of its own) for a series of calls made on one
    peer of a fleet, until the other peers have heard them, less what the peers' background sends in the same time
    (counted idle just before)."""
    run = uuid.uuid4().hex[:8]
    count = sizes.fleet_peers
    # --quick (the smoke test) waits a fifth as long: its figures are not read, only that they are made.
    idle_seconds, settle_seconds = (IDLE_SECONDS, SETTLE_SECONDS) if sizes.name == "full" else (1.0, 0.4)
    async with pg.database(base, "count", log_statement="all") as url:
        log = pg.server_log(url)
        if log is None:
            report.note(NAME, "database round trips per call not counted: the cluster's log is not readable here")
            return
        counter = pg.Statements(url, log)
        async with peers(work, fal.url, [url] * count, **lease) as (servers, _), clients([servers[0].url]) as grid:
            client = grid[0][0]
            await _timed(client, f"bench {run} warm-up")
            await asyncio.sleep(settle_seconds)
            first = counter.mark()
            await asyncio.sleep(idle_seconds)
            second = counter.mark()
            started = time.perf_counter()
            for i in range(sizes.fleet_counted_calls):
                await _timed(client, f"bench {run} counted {i}")
            await asyncio.sleep(settle_seconds)  # the other peers hear the last changes
            busy = time.perf_counter() - started
            third = counter.mark()
        idle, sent = _kinds(counter.between(first, second)), _kinds(counter.between(second, third))
    n = sizes.fleet_counted_calls
    net = {kind: (sent[kind] - idle[kind] * busy / idle_seconds) / n for kind in ("all", "transactions", "heard")}
    heard = net["heard"] * HEARD_ROUND_TRIPS
    report.add(Row(NAME, "database round trips per generation call, on the peer called", net["all"] - heard, ""))
    report.add(Row(NAME, f"database round trips per generation call, fleet of {count} (hearing it included)", net["all"], ""))
    report.add(Row(NAME, f"database transactions per generation call, fleet of {count}", net["transactions"], ""))
    report.note(NAME, f"round trips: {sent['all']} statements logged over {n} calls and {settle_seconds:g} s after "
                      f"({busy:.1f} s) less {idle['all']} over {idle_seconds:g} s idle, scaled to that time; one statement "
                      f"is one round trip (BEGIN and COMMIT included); {heard:.1f} per call are the other peers reading the "
                      f"jobs they heard changed, in batches ({net['heard']:.1f} reads, one transaction each)")  # fmt: skip

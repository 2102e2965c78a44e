"""How big each benchmark runs: the full sizes of the issue, and quick ones that finish in seconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    name: str
    overhead_warmup: int  # calls per server before measuring
    overhead_rounds: int  # rounds of alternating calls; each round's medians show the drift
    overhead_calls: int  # calls per server per round
    cold_repeats: int  # process starts per server variant
    scale_jobs: int  # background jobs tracked at once
    scale_window: float  # seconds over which CPU and status requests are counted
    scale_watched: int  # short jobs that someone waits on or listens to
    scale_watched_run: float  # run seconds of the first watched job; each next one runs half a second longer
    upload_bytes: int
    upload_repeats: int
    render_repeats: int
    saved_jobs: int  # 720p jobs timed from fal finishing to the saved answer, one at a time
    saved_render: bool  # hand out a real 5 s 720p render (else the shipped 1 s 720p preview)
    warm_up: bool  # uncounted warm-up runs (a first process start, upload round, job), and import notes of every server
    fleet_peers: int  # PostgreSQL peers sharing the live jobs
    fleet_jobs: int  # background jobs across the fleet
    fleet_window: float  # seconds over which CPU and status requests are counted
    fleet_watched: int  # short jobs submitted on one peer and waited on (or subscribed to) on the others
    fleet_lease: str  # PIKA_MCP_LEASE_SECONDS of the peers ("" for the default)
    fleet_counted_calls: int  # generation calls whose database statements are counted


FULL = Sizes("full", 10, 5, 60, 10, 1000, 60.0, 20, 3.0, 200 * 2**20, 5, 3, 20, True, True, 3, 3000, 60.0, 20, "", 20)
# Each measurement's code path once, at the least size that still yields every row (the smoke test's run).
QUICK = Sizes("quick", 1, 1, 2, 1, 8, 1.0, 2, 0.2, 1 * 2**20, 1, 1, 1, False, False, 3, 6, 1.0, 2, "5", 2)

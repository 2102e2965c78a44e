"""The benchmarks run: `python -m bench --quick` runs every measurement's code path once at tiny size, exits 0
and writes its JSON, and its rows carry the goals they are judged by. Speed is judged by bench, never here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.__main__ import MEASUREMENTS as NAMES
from tests.pgdb import database_url

ROOT = Path(__file__).resolve().parent.parent
# Two runs side by side, each about half the work (most of it is starting servers); together, every measurement but
# the fleet's, which needs PostgreSQL and has a test of its own.
LANES = (("overhead", "coldstart", "context", "render"), ("scale", "upload", "saved"))
FLEET_GOALS = {  # metric -> the goal it is judged by
    "generation call on a PostgreSQL peer (baseline: on SQLite), median": "<= 1.5x baseline",
    "status requests per job per minute across the fleet (6 jobs, 3 peers)": "<= 12 /min",
    "update latency to the saved answer on a non-tracker peer p95": "<= 1000 ms",
    "takeover of a SIGKILLed peer's jobs: all claimed by others": "<= 30 s",
    "takeover of a SIGKILLed peer's jobs: all polled by their new tracker": "<= 30 s",
    "submits per second across the fleet (16 concurrent calls)": None,
}
MEASUREMENTS = {"1 call overhead", "2 cold start", "3 scale", "4 upload", "5 context cost", "7 finished to saved"}
GOALS = {  # metric -> the goal it is judged by
    "peak memory growth, 1 MB (baseline httpx2)": "<= 32 MB",
    "throughput, 1 MB, full speed (baseline fal_client)": ">= 0.9x baseline",
    "throughput, 1 MB, 1 Gbit/s link (baseline httpx2)": ">= 0.95x baseline",
    "throughput, 1 MB, loopback (baseline httpx2)": None,
    "model reads, all tools (16)": "<= 16384 bytes",
    "update latency to the saved answer p95, watched jobs": "<= 1000 ms",
    "p95, 720p preview job": "<= 1000 ms",
}
HANG_GUARD_SECONDS = 300  # not a speed check: only so a wedged subprocess fails the suite instead of stalling it


def test_quick_benchmarks_run_and_write_their_results(tmp_path: Path) -> None:
    assert sorted(name for lane in LANES for name in lane) == sorted(set(NAMES) - {"fleet"})
    outs = [tmp_path / f"results-{i}.json" for i in range(len(LANES))]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench", "--quick", "--only", *lane, "--output", str(out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for lane, out in zip(LANES, outs, strict=True)
    ]
    try:
        for run in runs:
            stdout, stderr = run.communicate(timeout=HANG_GUARD_SECONDS)
            assert run.returncode == 0, stdout[-3000:] + stderr[-3000:]
            assert "measurement" in stdout and "ratio" in stdout  # the table was printed
    finally:
        for run in runs:  # a failed lane leaves no bench running behind the suite
            if run.poll() is None:
                run.kill()
                run.communicate()
    results = [json.loads(out.read_text()) for out in outs]
    rows = [row for result in results for row in result["results"]]
    assert {result["mode"] for result in results} == {"quick"}
    assert MEASUREMENTS <= {row["measurement"] for row in rows}
    assert all(row["value"] is not None for row in rows)
    assert {row["metric"]: row["goal"] for row in rows if row["metric"] in GOALS} == GOALS
    assert all(result["machine"]["cores"] and "loadavg_at_end" in result["machine"] for result in results)
    table = subprocess.run(
        [sys.executable, "-m", "bench.report", str(outs[1])], cwd=ROOT, capture_output=True, text=True, check=True
    )
    lines = table.stdout.splitlines()  # the README's table: a header, a rule, and one row per result
    assert lines[0].startswith("| measurement |") and len(lines) == 2 + len(results[1]["results"])
    assert any(line.startswith("| 4 upload | throughput, 1 MB, 1 Gbit/s link (baseline httpx2) | ") for line in lines), lines


def test_quick_fleet_benchmark_runs_three_peers_on_postgresql(tmp_path: Path) -> None:
    database_url()  # skips without PIKA_MCP_TEST_DATABASE_URL (fails under CI=true); the bench makes its own databases
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "fleet", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = json.loads(out.read_text())["results"]
    assert {row["measurement"] for row in rows} == {"8 fleet"}
    assert all(row["value"] is not None for row in rows), rows
    assert {row["metric"]: row["goal"] for row in rows if row["metric"] in FLEET_GOALS} == FLEET_GOALS
    assert sum(row["metric"].startswith("resident memory, peer ") for row in rows) == 3

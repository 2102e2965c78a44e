"""The benchmarks run: `python -m bench --quick` exits 0 and writes its JSON. Speed is judged by bench, never here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEASUREMENTS = {"1 call overhead", "2 cold start", "3 scale", "4 upload", "5 context cost"}
HANG_GUARD_SECONDS = 300  # not a speed check: only so a wedged subprocess fails the suite instead of stalling it


def test_quick_benchmarks_run_and_write_their_results(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_SECONDS,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["mode"] == "quick"
    assert MEASUREMENTS <= {row["measurement"] for row in results["results"]}
    assert all(row["value"] is not None for row in results["results"])
    assert results["machine"]["cores"] and "loadavg_at_end" in results["machine"]
    assert "measurement" in done.stdout and "ratio" in done.stdout  # the table was printed
    table = subprocess.run([sys.executable, "-m", "bench.report", str(out)], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = table.stdout.splitlines()  # the README's table: a header, a rule, and one row per result
    assert lines[0].startswith("| measurement |") and len(lines) == 2 + len(results["results"])
    assert any(line.startswith("| 4 upload | throughput, 4 MB | ") for line in lines), lines

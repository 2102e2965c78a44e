"""Rows of results, the goals they are judged by, the printed table and bench/results.json."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench import proc
from bench.stats import Summary, ratio

RESULTS = Path(__file__).resolve().parent / "results.json"
Judged = Literal["ratio", "value"]


@dataclass(frozen=True)
class Goal:
    """`on` the ratio to the baseline or the value itself; at most `most`, or at least `least`."""

    on: Judged
    most: float | None = None
    least: float | None = None

    def text(self, unit: str) -> str:
        suffix = "x baseline" if self.on == "ratio" else f" {unit}"
        if self.most is not None:
            return f"<= {self.most:g}{suffix}"
        return f">= {self.least:g}{suffix}"

    def passed(self, value: float, ratio_: float) -> bool | None:
        x = ratio_ if self.on == "ratio" else value
        if not math.isfinite(x):
            return None
        return (self.most is None or x <= self.most) and (self.least is None or x >= self.least)


@dataclass
class Row:
    measurement: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    goal: Goal | None = None
    summary: Summary | None = None  # of pika-mcp's samples
    baseline_summary: Summary | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        return ratio(self.value, self.baseline) if self.baseline is not None else math.nan

    @property
    def passed(self) -> bool | None:
        return self.goal.passed(self.value, self.ratio) if self.goal is not None else None

    def spread(self) -> str:
        if self.summary is None or self.summary.n < 2:
            return ""
        return f"IQR {_num(self.summary.iqr)}, {_num(self.summary.min)}-{_num(self.summary.max)} (n={self.summary.n})"

    def to_json(self) -> dict[str, Any]:
        return {
            "measurement": self.measurement,
            "metric": self.metric,
            "value": _clean(self.value),
            "unit": self.unit,
            "baseline": _clean(self.baseline),
            "ratio": _clean(self.ratio) if self.baseline is not None else None,
            "goal": self.goal.text(self.unit) if self.goal else None,
            "pass": self.passed,
            "summary": self.summary.to_json() if self.summary else None,
            "baseline_summary": self.baseline_summary.to_json() if self.baseline_summary else None,
            "note": self.note,
        }


@dataclass
class Report:
    mode: str
    rows: list[Row] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def note(self, measurement: str, text: str) -> None:
        self.notes.setdefault(measurement, []).append(text)

    def table(self) -> str:
        head = ("measurement", "metric", "pika-mcp", "baseline", "ratio", "goal", "pass", "spread (pika-mcp)")
        lines = [head]
        for r in self.rows:
            lines.append((
                r.measurement, r.metric, f"{_num(r.value)} {r.unit}",
                f"{_num(r.baseline)} {r.unit}" if r.baseline is not None else "",
                f"{r.ratio:.2f}x" if r.baseline is not None and math.isfinite(r.ratio) else "",
                r.goal.text(r.unit) if r.goal else "",
                {True: "PASS", False: "FAIL", None: ""}[r.passed], r.spread(),
            ))  # fmt: skip
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        out = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
        out.insert(1, "-+-".join("-" * w for w in widths))
        for name, texts in self.notes.items():
            out.extend(f"  [{name}] {t}" for t in texts)
        return "\n".join(out)

    def to_json(self, machine: dict[str, Any]) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "machine": machine,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "results": [r.to_json() for r in self.rows],
            "notes": self.notes,
        }

    def write(self, machine: dict[str, Any], path: Path = RESULTS, *, keep_others: bool = False) -> None:
        """Write the results; `keep_others` (an `--only` run): the rows, notes and times of measurements this run did
        not make stay as they are in the file, and this run's rows take the place of their own earlier ones."""
        data = self.to_json(machine)
        if keep_others and path.exists():
            data = merged(json.loads(path.read_text()), data)
        temporary = path.with_name(path.name + ".tmp")  # a reader never sees half a file
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        temporary.replace(path)


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` results in `old`'s order: a measurement's rows replace its old rows where they stood, or come last."""
    fresh = {r["measurement"] for r in new["results"]}
    rows: list[dict[str, Any]] = []
    placed: set[str] = set()
    for row in old.get("results", []):
        name = row["measurement"]
        if name not in fresh:
            rows.append(row)
        elif name not in placed:
            placed.add(name)
            rows.extend(r for r in new["results"] if r["measurement"] == name)
    rows.extend(r for r in new["results"] if r["measurement"] not in placed)
    notes = old.get("notes") or {}
    notes = {"earlier": notes} if isinstance(notes, str) else dict(notes)
    fresh_notes = set(new["notes"]) | fresh
    notes = {k: v for k, v in notes.items() if k not in fresh_notes} | new["notes"]
    return new | {"results": rows, "notes": notes, "seconds": old.get("seconds", {}) | new["seconds"]}


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        memory = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    from importlib.metadata import version

    import mcp  # noqa: F401  (its version below)

    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "loadavg_at_start": proc.loadavg(),
        "mcp": version("mcp"),
        "pika_mcp": version("pika-mcp"),
    }


def markdown(results: list[dict[str, Any]]) -> str:
    """The README's table, from the `results` of a bench/results.json."""
    lines = ["| measurement | metric | pika-mcp | baseline | ratio | goal | pass |", "|---|---|---|---|---|---|---|"]
    for r in results:
        baseline = f"{_num(r['baseline'])} {r['unit']}".rstrip() if r["baseline"] is not None else ""
        ratio_ = f"{r['ratio']:.2f}x" if r["baseline"] is not None and r["ratio"] is not None else ""
        verdict = {True: "PASS", False: "FAIL", None: ""}[r["pass"]]
        cells = [
            r["measurement"],
            r["metric"],
            f"{_num(r['value'])} {r['unit']}".rstrip(),
            baseline,
            ratio_,
            r["goal"] or "",
            verdict,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def _clean(x: float | None) -> float | None:
    return round(x, 6) if x is not None and math.isfinite(x) else None


if __name__ == "__main__":  # python -m bench.report [results.json]: the README's table
    print(markdown(json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else RESULTS).read_text())["results"]))

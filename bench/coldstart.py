"""Cold start: process start to the first tools/list answer, pika-mcp against an SDK hello-world server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bench.fal import ROOT
from bench.launch import first_tools_list, hello_command, pika_command, pika_env
from bench.report import Goal, Report, Row
from bench.sizes import Sizes
from bench.stats import summarize

NAME = "2 cold start"
GOAL = Goal("ratio", most=1.3)
UNREACHABLE_FAL = "http://127.0.0.1:9"  # nothing is sent to fal before the first call
HEAVY = ("av", "PIL", "numpy", "pika_mcp.sandbox", "pika_mcp.media", "pika_mcp.server.http", "uvicorn", "sqlite3")


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    variants = {
        "hello": (hello_command(), {}),
        "fal": (pika_command(), pika_env(work / "fal", UNREACHABLE_FAL)),
        "embedded": (pika_command(), pika_env(work / "embedded", None)),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    if sizes.warm_up:
        await first_tools_list(*variants["embedded"])  # first run creates the home; later ones are restarts
    names = list(variants)
    for r in range(sizes.cold_repeats):
        for name in names[r % 3 :] + names[: r % 3]:  # rotate the order so drift hits all alike
            seconds, _ = await first_tools_list(*variants[name])
            samples[name].append(seconds * 1000)
    hello = summarize(samples["hello"])
    for name, label in (("fal", "to tools/list (FAL_KEY)"), ("embedded", "to tools/list (embedded sandbox)")):
        s = summarize(samples[name])
        report.add(Row(NAME, label, s.median, "ms", hello.median, GOAL, s, hello))
    for name in ("fal", "embedded") if sizes.warm_up else ("embedded",):  # what each imports: once is the quick path
        report.note(NAME, f"{name}: {start_path(variants[name][1])}")
    if sizes.warm_up:
        report.note(NAME, f"hello: {start_path({}, hello_command()[1:])}")


def start_path(env: dict[str, str], args: list[str] | None = None) -> str:
    """What `python -X importtime` says is imported before the server answers (stdin closed at once)."""
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)} | env
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *(args or pika_command()[1:])],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=60,
    )  # fmt: skip
    rows = [m.groups() for m in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", done.stderr)]
    top = {name: int(total) for _, total, indent, name in rows if len(indent) == 1}
    total = sum(top.values()) / 1000
    mcp = sum(int(total) for _, total, _, name in rows if name == "mcp") / 1000
    own = sum(int(self_) for self_, _, _, name in rows if name.startswith("pika_mcp")) / 1000
    loaded = {name for *_, name in rows}
    heavy = sorted(h for h in HEAVY if any(n == h or n.startswith(h + ".") for n in loaded))
    return f"imports {total:.0f} ms ({mcp:.0f} ms mcp SDK, {own:.0f} ms pika_mcp's own modules); heavy modules loaded: {', '.join(heavy) or 'none'}"

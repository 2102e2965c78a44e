"""`python -m bench [--quick] [--only NAME ...]`: run the measurements, print the table, write bench/results.json."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import coldstart, context, fleet, overhead, proc, render, saved, scale, upload
from bench.report import RESULTS, Report, machine
from bench.sizes import FULL, QUICK, Sizes

Measure = Callable[[Report, Sizes, Path], Awaitable[None]]
MEASUREMENTS: dict[str, Measure] = {
    "overhead": overhead.measure,
    "coldstart": coldstart.measure,
    "scale": scale.measure,
    "upload": upload.measure,
    "context": context.measure,
    "render": render.measure,
    "saved": saved.measure,
    "fleet": fleet.measure,
}


async def run(sizes: Sizes, names: list[str], report: Report) -> bool:
    ok = True
    for name in names:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"pika-bench-{name}-") as work:
            try:
                await MEASUREMENTS[name](report, sizes, Path(work))
            except Exception as exc:  # one broken measurement must not hide the others
                ok = False
                traceback.print_exc()
                report.note(name, f"ERROR: {type(exc).__name__}: {exc}")
        report.seconds[name] = time.perf_counter() - started
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes, seconds in all (what the smoke test runs)")
    p.add_argument("--only", nargs="+", choices=list(MEASUREMENTS), help="run only these measurements")
    p.add_argument("--output", type=Path, default=RESULTS, help=f"where to write the JSON (default {RESULTS})")
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    report = Report(sizes.name)
    info = machine()
    ok = asyncio.run(run(sizes, args.only or list(MEASUREMENTS), report))
    info["loadavg_at_end"] = proc.loadavg()
    print(report.table())
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['platform']}; "
          f"load {info['loadavg_at_start']} -> {info['loadavg_at_end']}")  # fmt: skip
    report.write(info, args.output, keep_others=bool(args.only))  # an --only run keeps the other measurements' rows
    print(f"wrote {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

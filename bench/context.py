"""Context cost: the bytes a model reads of the tools (names, descriptions, input schemas) and of tools/list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.launch import first_tools_list, pika_command, pika_env
from bench.report import Goal, Report, Row
from bench.sizes import Sizes

NAME = "5 context cost"
GOAL = Goal("value", most=16.0)
FILTER = "pika_v22_*,pika_wait_for_job,pika_get_job"
UNREACHABLE_FAL = "http://127.0.0.1:9"


def model_reads(tool: dict[str, Any]) -> int:
    """Compact JSON of what a model is shown of one tool."""
    shown = {"name": tool["name"], "description": tool.get("description", ""), "inputSchema": tool["inputSchema"]}
    return len(json.dumps(shown, separators=(",", ":"), ensure_ascii=False).encode())


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    for label, extra in (("all tools", {}), (f"PIKA_MCP_TOOLS={FILTER}", {"PIKA_MCP_TOOLS": FILTER})):
        _, raw = await first_tools_list(pika_command(), pika_env(work / "context", UNREACHABLE_FAL, **extra))
        tools = json.loads(raw)["result"]["tools"]
        reads = {t["name"]: model_reads(t) for t in tools}
        goal = GOAL if not extra else None
        report.add(Row(NAME, f"model reads, {label} ({len(tools)})", sum(reads.values()) / 1000, "KB", goal=goal))
        report.add(Row(NAME, f"tools/list answer, {label}", len(raw) / 1000, "KB"))
        if not extra:
            biggest = sorted(reads.items(), key=lambda kv: -kv[1])[:3]
            report.note(NAME, "largest tools: " + ", ".join(f"{n} {b / 1000:.1f} KB" for n, b in biggest))
    report.note(NAME, "compact JSON of name+description+inputSchema; answer = the raw 2025-11-25 JSON-RPC line")

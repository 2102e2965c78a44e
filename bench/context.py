"""Context cost: the bytes a model reads of the tools (names, descriptions, input schemas) and of tools/list."""

from __future__ import annotations

import json
from pathlib import Path

from bench.launch import first_tools_list, pika_command, pika_env
from bench.report import Goal, Report, Row
from bench.sizes import Sizes
from pika_mcp.reads import BUDGET_BYTES, DOCUMENTED_TOOLS, model_reads, tool_reads

NAME = "5 context cost"
GOAL = Goal("value", most=BUDGET_BYTES)
FILTER = "pika_v22_*,pika_wait_for_job,pika_get_job"
UNREACHABLE_FAL = "http://127.0.0.1:9"


async def measure(report: Report, sizes: Sizes, work: Path) -> None:
    for label, extra in (("all tools", {}), (f"PIKA_MCP_TOOLS={FILTER}", {"PIKA_MCP_TOOLS": FILTER})):
        env = pika_env(work / "context", UNREACHABLE_FAL, **extra)
        del env["PIKA_MCP_WAIT_SECONDS"]  # the default wait, as a user's server describes it
        _, raw = await first_tools_list(pika_command(), env)
        tools = json.loads(raw)["result"]["tools"]
        reads = {t["name"]: tool_reads(t) for t in tools}
        goal = GOAL if not extra else None
        count = sum(t["name"] in DOCUMENTED_TOOLS for t in tools)
        report.add(Row(NAME, f"model reads, {label} ({count})", model_reads(tools), "bytes", goal=goal))
        report.add(Row(NAME, f"tools/list answer, {label}", len(raw) / 1000, "KB"))
        if not extra:
            biggest = sorted(reads.items(), key=lambda kv: -kv[1])[:3]
            report.note(NAME, "largest tools: " + ", ".join(f"{n} {b / 1000:.1f} KB" for n, b in biggest))
    report.note(NAME, "model reads = pika_mcp.reads.model_reads (the test's measure): compact JSON of name, description and "
                      "inputSchema of the tools the README documents, UTF-8 bytes; answer = the raw 2025-11-25 JSON-RPC line")  # fmt: skip

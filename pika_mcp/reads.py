"""What a model reads of the tools: one measure, shared by the test that keeps it in budget and the bench.

A model is shown each tool's name, description and input schema; measured as compact JSON in UTF-8 bytes,
summed over every tool the server lists by default (one per catalog endpoint, and the job tools), as tools/list
returns them. The budget keeps the tools a small share of a model's context.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pika_mcp.catalog import ENDPOINTS

BUDGET_BYTES = 16_384
JOB_TOOLS = ("pika_get_job", "pika_wait_for_job", "pika_cancel_job", "pika_list_jobs", "pika_upload_file")
OWN_TOOLS = frozenset({e.tool for e in ENDPOINTS} | set(JOB_TOOLS))


def tool_reads(tool: Mapping[str, Any]) -> int:
    """Bytes of compact JSON of one tool's name, description and inputSchema (a tools/list entry)."""
    shown = {"name": tool["name"], "description": tool.get("description") or "", "inputSchema": tool["inputSchema"]}
    return len(json.dumps(shown, separators=(",", ":"), ensure_ascii=False).encode())


def model_reads(tools: Iterable[Mapping[str, Any]]) -> int:
    """Bytes a model reads of pika-mcp's own tools among `tools` (tools/list entries as JSON objects)."""
    return sum(tool_reads(t) for t in tools if t["name"] in OWN_TOOLS)

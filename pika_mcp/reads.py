"""What a model reads of the tools: one measure, shared by the test that keeps it in budget and the bench.

A model is shown each tool's name, description and input schema; measured as compact JSON in UTF-8 bytes,
summed over the 16 tools of the README's tool table, as tools/list returns them. The budget keeps those tools a
small share of a model's context; a tool added later is reported by the bench beside them, and the README tells
people to narrow the list with PIKA_MCP_TOOLS.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

BUDGET_BYTES = 16_384
# The tools the README's table documents (their names are a fixed interface).
DOCUMENTED_TOOLS = frozenset({
    "pika_v22_text_to_video", "pika_v22_image_to_video", "pika_v22_pikascenes", "pika_v22_pikaframes",
    "pika_v21_text_to_video", "pika_v21_image_to_video", "pika_v2_turbo_text_to_video", "pika_v2_turbo_image_to_video",
    "pika_v2_pikaswaps", "pika_v2_pikadditions", "pika_v15_pikaffects",
    "pika_get_job", "pika_wait_for_job", "pika_cancel_job", "pika_list_jobs", "pika_upload_file",
})  # fmt: skip


def tool_reads(tool: Mapping[str, Any]) -> int:
    """Bytes of compact JSON of one tool's name, description and inputSchema (a tools/list entry)."""
    shown = {"name": tool["name"], "description": tool.get("description") or "", "inputSchema": tool["inputSchema"]}
    return len(json.dumps(shown, separators=(",", ":"), ensure_ascii=False).encode())


def model_reads(tools: Iterable[Mapping[str, Any]]) -> int:
    """Bytes a model reads of the documented tools among `tools` (tools/list entries as JSON objects)."""
    return sum(tool_reads(t) for t in tools if t["name"] in DOCUMENTED_TOOLS)

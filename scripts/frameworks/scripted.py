"""The scripted 'model' the framework checks share: make one video, then wait on it until it is finished.

No framework is imported here: each check runs in its own virtualenv and feeds this the text its framework
would show a model.
"""

from __future__ import annotations

import json
import re
from typing import Any

TOOL = "pika_v2_turbo_text_to_video"
ARGUMENTS = {"prompt": "a lighthouse at dawn, waves below", "wait_seconds": 5}
WAIT_SECONDS = 60  # each pika_wait_for_job call; the client's own timeouts must be longer
HEADLINE = re.compile(r"Job (\S+) \((\w+)\) (?:is )?(\w+)")  # "is queued", "is running"; "succeeded"
FINAL = ("succeeded", "failed", "cancelled")


def job_of(text: str) -> tuple[str, str]:
    """(job_id, status) from what the model saw: the answer's readable line, or the job view as JSON (a
    framework that shows the model the structured content instead, as pydantic-ai 1.x does)."""
    if found := HEADLINE.search(text):
        return found.group(1), found.group(3)
    job_id, status = re.search(r'"job_id": ?"([^"]+)"', text), re.search(r'"status": ?"(\w+)"', text)
    if job_id is None or status is None:
        raise AssertionError(f"no job in the answer the model saw: {text[:300]!r}")
    return job_id.group(1), status.group(1)


def next_call(seen: str | None) -> tuple[str, dict[str, Any]] | None:
    """The next tool call after the model saw `seen` (None at the start); None once the job is finished."""
    if seen is None:
        return TOOL, dict(ARGUMENTS)
    job_id, status = job_of(seen)
    if status in FINAL:
        return None
    return "pika_wait_for_job", {"job_id": job_id, "timeout_seconds": WAIT_SECONDS}


def as_text(content: Any) -> str:
    """Whatever a framework hands its model (strings, content blocks, objects), flattened to searchable text."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "\n".join(as_text(c) for c in content)
    if isinstance(content, dict):
        return content.get("text") or json.dumps(content, default=str)
    return getattr(content, "text", None) or str(content)

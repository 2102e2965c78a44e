"""The one readable line of a result says the status as a sentence: `succeeded`, not `is succeeded`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from pika_mcp.job import Job
from pika_mcp.view import headline, job_view


@pytest.mark.parametrize(("status", "says"), [("queued", "is queued"), ("running", "is running"), ("succeeded", ") succeeded"),
                                              ("failed", ") failed"), ("cancelled", ") cancelled")])  # fmt: skip
def test_the_headline_says_each_status_grammatically(status: str, says: str) -> None:
    job = Job(local_id="local-1", owner="local", tool="pika_v2_turbo_text_to_video", endpoint_id="fal-ai/pika/v2/turbo/text-to-video",
              backend="sandbox", status=status, estimated_cost_usd=0.0, arguments={"prompt": "x"}, args_key="k",
              created_at=0.0, updated_at=0.0)  # type: ignore[arg-type]  # fmt: skip
    line = headline(job_view(job))
    assert says in line and "is succeeded" not in line and "is failed" not in line, line
    assert scripted_model().job_of(line) == ("local-1", status)  # the agent-framework checks read it too


def scripted_model() -> Any:
    """scripts/frameworks/scripted.py, the scripted model of the agent-framework checks (run outside the suite)."""
    path = Path(__file__).parents[1] / "scripts" / "frameworks" / "scripted.py"
    spec = importlib.util.spec_from_file_location("frameworks_scripted", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

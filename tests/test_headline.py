"""The one readable line of a result says the status as a sentence: `succeeded`, not `is succeeded`."""

from __future__ import annotations

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

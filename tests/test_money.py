"""Money rules at the service: what counts as spend, and no ghost job after a submit that went wrong in an unexpected way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pika_mcp.arguments import parse
from pika_mcp.catalog import BY_TOOL
from pika_mcp.errors import BudgetExceeded, SubmitOutcomeUnknown
from pika_mcp.jobs import JobService
from pika_mcp.ledger import Ledger
from pika_mcp.queue import Submitted

pytestmark = pytest.mark.anyio

TURBO = BY_TOOL["pika_v2_turbo_text_to_video"]  # $0.20 a job


class ScriptedQueue:
    """A fal queue whose submit answers are chosen by the test: an answer, or an exception to raise."""

    def __init__(self, *answers: Submitted | BaseException) -> None:
        self.answers = list(answers)
        self.submits = 0

    async def submit(self, endpoint_id: str, body: dict[str, Any]) -> Submitted:
        self.submits += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def answer(request_id: str) -> Submitted:
    base = f"https://queue.fal.run/fal-ai/pika/requests/{request_id}"
    return Submitted(request_id, f"{base}/status", base, f"{base}/cancel", 0)


def service(tmp_path: Path, queue: ScriptedQueue, budget: float | None = None) -> JobService:
    return JobService(Ledger(tmp_path / "jobs.sqlite3"), queue, backend="fal", budget_usd=budget)  # type: ignore[arg-type]


async def test_a_submit_whose_answer_was_lost_counts_as_spend(tmp_path: Path) -> None:
    jobs = service(tmp_path, ScriptedQueue(SubmitOutcomeUnknown("the connection dropped after sending")), budget=0.30)
    lost, _ = await jobs.submit("me", TURBO, parse(TURBO, {"prompt": "lost"}))
    assert lost.status == "failed" and lost.error is not None and lost.error["type"] == "submit_outcome_unknown"
    assert jobs.list("me")[1] == pytest.approx(0.20)  # fal may have made it, and may bill it
    with pytest.raises(BudgetExceeded):  # 0.20 + 0.20 > 0.30: the cap holds
        await jobs.submit("me", TURBO, parse(TURBO, {"prompt": "next", "force_new": True}))


@pytest.mark.parametrize("trouble", [RecursionError("maximum recursion depth exceeded"), "duplicate request id"])
async def test_an_unexpected_error_after_the_submit_leaves_no_ghost_queued_job(tmp_path: Path, trouble: Any) -> None:
    first = answer("req-1")
    queue = ScriptedQueue(first, first) if trouble == "duplicate request id" else ScriptedQueue(trouble)
    jobs = service(tmp_path, queue)
    if trouble == "duplicate request id":
        await jobs.submit("me", TURBO, parse(TURBO, {"prompt": "one"}))
    job, _ = await jobs.submit("me", TURBO, parse(TURBO, {"prompt": "two"}))
    assert job.status == "failed" and job.error is not None and job.error["type"] == "submit_outcome_unknown"
    stored = jobs.ledger.get(job.local_id)
    assert stored is not None and stored.status == "failed"
    # it is not returned as an earlier identical call: the same call makes a new job
    queue.answers.append(answer("req-3"))
    again, deduplicated = await jobs.submit("me", TURBO, parse(TURBO, {"prompt": "two"}))
    assert not deduplicated and again.local_id != job.local_id

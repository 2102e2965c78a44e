"""Jobs outlive the server: intent rows, recovery after a restart, lost submit answers, deduplication, budget."""

from __future__ import annotations

import dataclasses
import sqlite3
import time

import pytest
from mcp import Client

from pika_mcp.job import Job
from pika_mcp.ledger import Ledger
from pika_mcp.sandbox import Fault
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import FAST_RETRY, Fal

pytestmark = pytest.mark.anyio


async def test_restart_picks_up_an_unfinished_job_and_sees_it_to_the_end(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 0.5, 0.5
    async with Client(build_server(settings).mcp) as client:
        job = (await client.call_tool("pika_v22_text_to_video", {"prompt": "survive", "wait_seconds": 0})).structured_content
    assert job["status"] == "queued"
    async with Client(build_server(settings).mcp) as client:
        final = (
            await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 120})
        ).structured_content
    assert final["status"] == "succeeded"
    assert len(fal.sent("submit")) == 1


async def test_submit_whose_answer_was_never_read_fails_as_outcome_unknown_on_restart(settings: Settings, fal: Fal) -> None:
    ledger = Ledger(settings.home / "jobs.sqlite3")
    now = time.time()
    ledger.add(Job(local_id="local-1234", owner="local", tool="pika_v22_text_to_video", endpoint_id="fal-ai/pika/v2.2/text-to-video",
                   backend="fal", status="queued", estimated_cost_usd=0.2, arguments={"prompt": "x"}, args_key="k",
                   created_at=now, updated_at=now))  # fmt: skip
    ledger.close()
    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool("pika_get_job", {"job_id": "local-1234"})
    job = result.structured_content
    assert job["status"] == "failed" and job["error"]["type"] == "submit_outcome_unknown"
    assert "check" in result.content[0].text.lower() and "before retrying" in result.content[0].text


async def test_lost_submit_answer_is_a_failed_job_not_a_second_submit(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.faults.append(Fault(op="submit", kind="lost_answer"))
    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool("pika_v22_text_to_video", {"prompt": "lost", "wait_seconds": 0})
    assert not result.is_error
    job = result.structured_content
    assert job["job_id"].startswith("local-")
    assert job["status"] == "failed" and job["error"]["type"] == "submit_outcome_unknown"
    assert len(fal.sent("submit")) == 1


async def test_ledger_records_intent_answer_and_every_status_change(settings: Settings, fal: Fal) -> None:
    async with Client(build_server(settings).mcp) as client:
        job = (await client.call_tool("pika_v22_text_to_video", {"prompt": "history", "wait_seconds": 120})).structured_content
    db = sqlite3.connect(settings.home / "jobs.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    [(local_id,)] = db.execute("SELECT local_id FROM jobs WHERE request_id = ?", (job["job_id"],)).fetchall()
    statuses = [row[0] for row in db.execute("SELECT status FROM events WHERE local_id = ? ORDER BY at, rowid", (local_id,))]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses


async def test_same_call_twice_is_one_submit_and_one_job(settings: Settings, fal: Fal) -> None:
    args = {"prompt": "only once", "wait_seconds": 0}
    async with Client(build_server(settings).mcp) as client:
        first = (await client.call_tool("pika_v22_text_to_video", args)).structured_content
        second = await client.call_tool("pika_v22_text_to_video", args)
        forced = (await client.call_tool("pika_v22_text_to_video", args | {"force_new": True})).structured_content
    assert second.structured_content["job_id"] == first["job_id"]
    assert second.structured_content["deduplicated"] is True and first["deduplicated"] is False
    assert "force_new" in second.content[0].text
    assert forced["job_id"] != first["job_id"]
    assert len(fal.sent("submit")) == 2


async def test_failed_job_is_never_returned_as_a_duplicate(settings: Settings, fal: Fal) -> None:
    from pika_mcp.sandbox import FailSpec

    fal.sandbox.config.fail_next.append(FailSpec())
    args = {"prompt": "retry me", "wait_seconds": 120}
    async with Client(build_server(settings, retry=FAST_RETRY).mcp) as client:
        first = (await client.call_tool("pika_v22_text_to_video", args)).structured_content
        second = (await client.call_tool("pika_v22_text_to_video", args)).structured_content
    assert first["status"] == "failed"
    assert second["job_id"] != first["job_id"] and second["status"] == "succeeded"


async def test_estimate_of_a_5s_720p_v22_job_is_20_cents(settings: Settings) -> None:
    async with Client(build_server(settings).mcp) as client:
        job = (await client.call_tool("pika_v22_text_to_video", {"prompt": "p", "wait_seconds": 0})).structured_content
        frames = (await client.call_tool("pika_v22_pikaframes", {"image_urls": ["https://a/1.png", "https://a/2.png", "https://a/3.png"],
                                                                  "resolution": "1080p", "wait_seconds": 0})).structured_content  # fmt: skip
    assert job["estimated_cost_usd"] == 0.20
    assert frames["estimated_cost_usd"] == pytest.approx(0.60)


async def test_budget_refuses_a_job_that_would_pass_the_cap_before_sending_it(settings: Settings, fal: Fal) -> None:
    capped = dataclasses.replace(settings, budget_usd=0.50)
    async with Client(build_server(capped).mcp) as client:
        first = await client.call_tool("pika_v22_text_to_video", {"prompt": "cheap", "wait_seconds": 0})
        refused = await client.call_tool("pika_v22_text_to_video", {"prompt": "dear", "resolution": "1080p", "wait_seconds": 0})
        listing = (await client.call_tool("pika_list_jobs", {})).structured_content
    assert not first.is_error
    assert refused.is_error
    text = refused.content[0].text
    assert "$0.20" in text and "$0.50" in text and "$0.45" in text and "PIKA_MCP_BUDGET_USD" in text
    assert len(fal.sent("submit")) == 1
    assert listing["spend_24h_usd"] == pytest.approx(0.20)


async def test_sandbox_backend_results_say_sandbox_and_cost_nothing(settings: Settings) -> None:
    sandboxed = dataclasses.replace(settings, backend="sandbox")
    async with Client(build_server(sandboxed).mcp) as client:
        result = await client.call_tool("pika_v22_text_to_video", {"prompt": "free", "wait_seconds": 0})
    assert result.structured_content["backend"] == "sandbox"
    assert result.structured_content["estimated_cost_usd"] == 0
    assert "sandbox" in result.content[0].text

"""Finished means saved: a job says `succeeded` only once its video is saved (or `save_error` says why not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ResourceUpdatedNotification

from pika_mcp.ledger import Ledger
from pika_mcp.sandbox.config import Fault
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import FAST_RETRY, Fal, read_json, view

pytestmark = pytest.mark.anyio

SAVING = "fal finished; saving the video"


async def test_a_job_fal_finished_reads_running_everywhere_until_its_video_is_saved(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.faults.append(Fault(op="download", kind="slow", delay_seconds=4.0))
    async with Client(build_server(settings).mcp) as client:
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "a slow save", "wait_seconds": 0}))
        with anyio.fail_after(60):
            while True:  # a short wait ends while saving: it answers running with the note and the next call
                result = await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 1})
                seen = view(result)
                assert seen["status"] in ("queued", "running"), seen
                if (seen["note"] or "").startswith(SAVING):
                    break
        assert seen["status"] == "running" and seen["video"] is None
        assert SAVING in result.content[0].text and f'pika_wait_for_job(job_id="{job["job_id"]}")' in result.content[0].text
        resource = await read_json(client, f"pika://jobs/{job['job_id']}")
        assert resource["status"] == "running" and resource["note"].startswith(SAVING)
        listed = view(await client.call_tool("pika_list_jobs", {"status": "running"}))
        assert [j["job_id"] for j in listed["jobs"]] == [job["job_id"]]
        done = view(await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 60}))
    assert done["status"] == "succeeded"
    assert Path(done["video"]["local_path"]).is_file() and Path(done["video"]["poster_path"]).is_file()
    assert not (done["note"] or "").startswith(SAVING)


async def test_any_failure_to_save_becomes_save_error_and_never_stops_the_next_start(settings: Settings, fal: Fal) -> None:
    # A body labelled gzip that is not: a decoding error, outside the download errors the save used to catch.
    bad_gzip = Fault(op="download", kind="http", status=200, headers={"Content-Encoding": "gzip"}, times=None)
    fal.sandbox.config.faults.append(bad_gzip)
    async with Client(build_server(settings, retry=FAST_RETRY).mcp) as client:
        job = view(await client.call_tool("pika_v2_turbo_text_to_video", {"prompt": "bad gzip", "wait_seconds": 120}))
    assert job["status"] == "succeeded"
    assert job["video"]["local_path"] is None and job["video"]["save_error"]
    assert job["video"]["url"].startswith(fal.url)
    # The next start retries the save (still failing) in the background: tools answer all the same.
    async with Client(build_server(settings, retry=FAST_RETRY).mcp) as client:
        again = view(await client.call_tool("pika_get_job", {"job_id": job["job_id"]}))
        assert again["status"] == "succeeded"
        made = view(await client.call_tool("pika_v2_turbo_text_to_video", {"prompt": "next", "wait_seconds": 0}))
        assert made["status"] in ("queued", "running")
    fal.sandbox.config.faults.clear()
    # Once the backend answers, a later start fills in the copy and keeps the job succeeded.
    async with Client(build_server(settings, retry=FAST_RETRY).mcp) as client:
        with anyio.fail_after(60):
            while not (fixed := view(await client.call_tool("pika_get_job", {"job_id": job["job_id"]})))["video"]["local_path"]:
                await anyio.sleep(0.1)
    assert (
        fixed["status"] == "succeeded" and fixed["video"]["save_error"] is None and Path(fixed["video"]["local_path"]).is_file()
    )


async def test_a_save_cut_off_by_the_process_ending_is_finished_by_the_next_process(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.faults.append(Fault(op="download", kind="hang"))
    async with Client(build_server(settings).mcp) as client:
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "cut off", "wait_seconds": 0}))
        with anyio.fail_after(60):
            while not (
                (seen := view(await client.call_tool("pika_get_job", {"job_id": job["job_id"]})))["note"] or ""
            ).startswith(SAVING):
                await anyio.sleep(0.1)
    # The first server is gone mid-save; the ledger holds fal's answer with the job still running.
    ledger = Ledger(settings.home / "jobs.sqlite3")
    try:
        stored = ledger.get(job["job_id"])
        assert stored is not None and stored.status == "running" and stored.video is not None
    finally:
        ledger.close()
    async with Client(build_server(settings).mcp) as client:
        done = view(await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 60}))
    assert done["status"] == "succeeded" and Path(done["video"]["local_path"]).is_file()
    assert seen["status"] == "running"


async def test_cancel_outcome_is_in_the_view(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds = 30.0
    async with Client(build_server(settings).mcp) as client:
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "never mind", "wait_seconds": 0}))
        cancelled = view(await client.call_tool("pika_cancel_job", {"job_id": job["job_id"]}))
    assert cancelled["status"] == "cancelled" and cancelled["cancel_outcome"] == "OK"


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed:mcp.shared.exceptions.MCPDeprecationWarning")
async def test_the_job_list_is_subscribable_on_the_2025_era(settings: Settings) -> None:
    updates: list[str] = []
    heard = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updates.append(message.params.uri)
            heard.set()

    async with Client(build_server(settings).mcp, mode="legacy", message_handler=on_message) as client:
        assert client.protocol_version == "2025-11-25"
        await client.subscribe_resource("pika://jobs")
        await client.call_tool("pika_v22_text_to_video", {"prompt": "a new job", "wait_seconds": 0})
        with anyio.fail_after(30):
            await heard.wait()
    assert "pika://jobs" in updates

"""Cancel: fal's answer decides, in each of its four outcomes."""

from __future__ import annotations

import sqlite3
import uuid

import anyio
import httpx2
import pytest
from mcp import Client

from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import Fal

pytestmark = pytest.mark.anyio


async def submit(client: Client) -> dict:
    result = await client.call_tool("pika_v22_text_to_video", {"prompt": "to cancel", "wait_seconds": 0})
    assert not result.is_error, result.content
    return result.structured_content


async def test_cancel_of_a_queued_job_answers_ok_and_cancels_it(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds = 60
    async with Client(build_server(settings).mcp) as client:
        job = await submit(client)
        cancelled = (await client.call_tool("pika_cancel_job", {"job_id": job["job_id"]})).structured_content
        again = (await client.call_tool("pika_cancel_job", {"job_id": job["job_id"]})).structured_content
    assert cancelled["status"] == "cancelled"
    assert again["status"] == "cancelled"
    [cancel] = fal.sent("cancel")  # the second cancel of a finished job needs no request
    assert cancel.method == "PUT" and cancel.path.endswith(f"/requests/{job['job_id']}/cancel")


async def test_cancel_of_a_running_job_is_requested_then_settled_by_its_result(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 0.0, 60
    async with Client(build_server(settings).mcp) as client:
        job = await submit(client)
        with anyio.fail_after(10):
            while job["status"] != "running":
                job = (
                    await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 1})
                ).structured_content
        answer = (await client.call_tool("pika_cancel_job", {"job_id": job["job_id"]})).structured_content
        assert answer["status"] == "running"
        final = (await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 10})).structured_content
    assert final["status"] == "cancelled"


async def test_cancel_of_a_job_fal_already_finished_leaves_it_to_succeed(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 0.0, 0.05
    async with Client(build_server(settings).mcp) as client:
        job = await submit(client)
        async with httpx2.AsyncClient() as http:
            with anyio.fail_after(10):
                while (
                    await http.get(f"{fal.url}/fal-ai/pika/requests/{job['job_id']}/status", headers={"Authorization": "Key k"})
                ).status_code != 200:
                    await anyio.sleep(0.05)
        answer = (await client.call_tool("pika_cancel_job", {"job_id": job["job_id"]})).structured_content
        assert answer["status"] in ("queued", "running")
        final = (await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 10})).structured_content
    assert final["status"] == "succeeded"
    assert len(fal.sent("cancel")) == 1


async def test_cancel_of_a_job_fal_does_not_know_fails_it_as_not_found(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds = 60
    async with Client(build_server(settings).mcp) as client:
        job = await submit(client)
        # fal forgets requests eventually: point our record at a request id the sandbox never saw.
        with sqlite3.connect(settings.home / "jobs.sqlite3") as db:
            db.execute("UPDATE jobs SET cancel_url = replace(cancel_url, request_id, ?)", (str(uuid.uuid4()),))
        answer = (await client.call_tool("pika_cancel_job", {"job_id": job["job_id"]})).structured_content
    assert answer["status"] == "failed"
    assert answer["error"]["type"] == "not_found"

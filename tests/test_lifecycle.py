"""Jobs followed to the end: by waiting, by reading the resource, by subscription on both protocol eras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ResourceUpdatedNotification

from pika_mcp.sandbox import FailSpec
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import FAST_RETRY, Fal, read_json, view

pytestmark = pytest.mark.anyio


async def test_job_followed_from_queued_to_succeeded_by_waiting_with_progress(settings: Settings, fal: Fal) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    async with Client(build_server(settings).mcp) as client:
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "a fox", "wait_seconds": 0}))
        assert job["status"] == "queued"
        assert (
            f'pika_wait_for_job(job_id="{job["job_id"]}")'
            in (await client.call_tool("pika_get_job", {"job_id": job["job_id"]})).content[0].text
        )
        done = view(
            await client.call_tool(
                "pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 120}, progress_callback=on_progress
            )
        )
    assert done["status"] == "succeeded"
    assert done["video"]["url"].startswith(fal.url + "/files/")
    assert done["video"]["content_type"] == "video/mp4"
    assert progress and [p[0] for p in progress] == sorted(p[0] for p in progress)
    assert any("running" in (m or "") or "succeeded" in (m or "") for _, m in progress)


async def test_the_first_succeeded_answer_carries_the_saved_file_and_its_poster_and_no_resource_link(settings: Settings) -> None:
    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool("pika_v2_turbo_text_to_video", {"prompt": "rain", "wait_seconds": 120})
    job = view(result)
    assert job["status"] == "succeeded"
    assert Path(job["video"]["local_path"]).is_file()
    assert Path(job["video"]["poster_path"]).is_file()
    assert job["poster_uri"] == f"pika://jobs/{job['job_id']}/poster"
    assert job["resource_uri"] == f"pika://jobs/{job['job_id']}"
    assert [c.type for c in result.content] == ["text", "image"]  # resource links break agent frameworks
    text = result.content[0].text
    assert "succeeded" in text and job["job_id"] in text
    assert job["video"]["url"] in text and job["video"]["local_path"] in text and job["resource_uri"] in text
    assert job["title"] == "Pika 2.0 turbo text to video" and job["prompt"] == "rain" and job["inputs"] == {}


async def test_job_followed_by_reading_its_resource(settings: Settings) -> None:
    async with Client(build_server(settings).mcp) as client:
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "a fox", "wait_seconds": 0}))
        uri = f"pika://jobs/{job['job_id']}"
        seen = {(await read_json(client, uri))["status"]}
        with anyio.fail_after(20):
            while "succeeded" not in seen:
                await anyio.sleep(0.1)
                seen.add((await read_json(client, uri))["status"])
        listing = await read_json(client, "pika://jobs")
    assert [j["job_id"] for j in listing["jobs"]] == [job["job_id"]]
    assert listing["spend_24h_usd"] == pytest.approx(0.20)


async def test_job_followed_by_subscription_on_the_2026_era(settings: Settings) -> None:
    async with Client(build_server(settings).mcp) as client:
        assert client.protocol_version == "2026-07-28"
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "a fox", "wait_seconds": 0}))
        uri = f"pika://jobs/{job['job_id']}"
        statuses = []
        with anyio.fail_after(20):
            async with client.listen(resource_subscriptions=[uri]) as sub:
                assert sub.honored.resource_subscriptions == [uri]
                async for _ in sub:
                    statuses.append((await read_json(client, uri))["status"])
                    if statuses[-1] == "succeeded":
                        break
    assert statuses[-1] == "succeeded"


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed:mcp.shared.exceptions.MCPDeprecationWarning")
async def test_job_followed_by_subscription_on_the_2025_era(settings: Settings) -> None:
    updates: list[str] = []
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updates.append(message.params.uri)
            changed.set()

    async with Client(build_server(settings).mcp, mode="legacy", message_handler=on_message) as client:
        assert client.protocol_version == "2025-11-25"
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "a fox", "wait_seconds": 0}))
        uri = f"pika://jobs/{job['job_id']}"
        await client.subscribe_resource(uri)
        status = job["status"]
        with anyio.fail_after(20):
            while status != "succeeded":
                await changed.wait()
                changed = anyio.Event()
                status = (await read_json(client, uri))["status"]
    assert uri in updates


async def test_failed_fal_job_is_reported_failed_not_succeeded(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.fail_next.append(FailSpec(status=500, detail="The GPU caught fire.", error_type="runner_server_error"))
    async with Client(build_server(settings, retry=FAST_RETRY).mcp) as client:
        result = await client.call_tool("pika_v22_text_to_video", {"prompt": "doomed", "wait_seconds": 120})
    job = view(result)
    assert job["status"] == "failed" and job["video"] is None
    assert job["error"]["type"] == "provider_error"
    assert job["error"]["detail"] == "The GPU caught fire."
    assert "failed" in result.content[0].text


async def test_content_policy_failure_has_its_own_error_type(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.fail_next.append(FailSpec(status=422, detail="flagged", error_type="content_policy_violation"))
    async with Client(build_server(settings, retry=FAST_RETRY).mcp) as client:
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "bad", "wait_seconds": 120}))
    assert job["status"] == "failed"
    assert job["error"]["type"] == "content_policy"
    assert job["error"]["detail"][0]["type"] == "content_policy_violation"


async def test_a_client_that_cuts_calls_short_is_led_by_text_to_the_saved_video(settings: Settings, fal: Fal) -> None:
    """Scaled: a 90 s job and 45 s waits become 0.9 s and 1 s; each unfinished answer names the exact next call.
    (How many calls it takes depends on the machine's load: bounded against a hang, never asserted.)"""
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 0.4, 0.5
    import dataclasses

    short = dataclasses.replace(settings, wait_seconds=0)
    calls = 0
    async with Client(build_server(short).mcp) as client:
        result = await client.call_tool("pika_v22_text_to_video", {"prompt": "slow", "wait_seconds": 0})
        calls += 1
        while view(result)["status"] != "succeeded" and calls < 120:
            text = result.content[0].text
            assert "pika_wait_for_job(job_id=" in text
            job_id = text.split('pika_wait_for_job(job_id="')[1].split('"')[0]
            result = await client.call_tool("pika_wait_for_job", {"job_id": job_id, "timeout_seconds": 1})
            calls += 1
    assert view(result)["status"] == "succeeded" and Path(view(result)["video"]["local_path"]).is_file()
    assert calls > 1  # the first answer was not the end: the text led the way


async def test_a_waited_job_follows_fals_status_stream_instead_of_polling(settings: Settings, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 0.5, 0.5
    async with Client(build_server(settings).mcp) as client:
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "streamed", "wait_seconds": 120}))
    assert job["status"] == "succeeded"
    assert fal.sandbox.counts["stream"] >= 1
    assert fal.sandbox.counts["status"] <= 2


async def test_without_a_status_stream_a_waited_job_is_polled_to_the_end(settings: Settings, fal: Fal) -> None:
    from pika_mcp.sandbox import Fault

    fal.sandbox.config.faults.append(Fault(op="stream", kind="http", status=405, times=None))
    async with Client(build_server(settings).mcp) as client:
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "polled", "wait_seconds": 120}))
    assert job["status"] == "succeeded"
    assert fal.sandbox.counts["status"] >= 2


async def test_a_status_stream_that_sends_no_events_falls_back_to_polling(settings: Settings, fal: Fal) -> None:
    from pika_mcp.sandbox import Fault

    # an answer that is not fal's event stream at all: 200 with an empty body, every time
    fal.sandbox.config.faults.append(Fault(op="stream", kind="http", status=200, detail="", times=None))
    async with Client(build_server(settings).mcp) as client:
        job = view(await client.call_tool("pika_v22_text_to_video", {"prompt": "no events", "wait_seconds": 120}))
    assert job["status"] == "succeeded"
    assert fal.sandbox.counts["stream"] == 1

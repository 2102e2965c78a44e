"""The sandbox speaks fal's queue protocol: submit, status, stream, result and cancel, over loopback."""

import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from pika_mcp.sandbox import FailSpec, Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox.preview import copy_preview

pytestmark = pytest.mark.anyio

T2V = "/fal-ai/pika/v2.2/text-to-video"
KEY = {"Authorization": "Key test-key"}
Served = tuple[Sandbox, httpx2.AsyncClient, "FakeClock"]


class FakeClock:
    """A clock tests move by hand; `advance` wakes the sandbox so streams see the change at once."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sandbox: Sandbox | None = None

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        if self.sandbox is not None:
            self.sandbox.notify()


@pytest.fixture
def renderer() -> Callable[..., None]:
    return copy_preview


@pytest.fixture
async def served(tmp_path: Path, renderer: Callable[..., None]) -> AsyncIterator[Served]:
    clock = FakeClock()
    config = SandboxConfig(queue_seconds=10, run_seconds=20, cancel_seconds=1)
    sandbox = Sandbox(tmp_path / "sandbox", config, clock=clock, renderer=renderer)
    clock.sandbox = sandbox
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base, headers=KEY) as c:
        yield sandbox, c, clock
    sandbox.close()


async def submit(client: httpx2.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post(T2V, json=body or {"prompt": "a cat surfing"})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def events(client: httpx2.AsyncClient, status_url: str, logs: bool = False) -> list[Any]:
    """Every event of a status stream until the server closes it after COMPLETED."""
    seen: list[Any] = []
    params = {"logs": "1"} if logs else {}
    with anyio.fail_after(60):  # guards against a hang only: a real render on a busy machine takes a while
        async with client.stream("GET", f"{status_url}/stream", params=params) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line.removeprefix("data: ")))
    return seen


async def test_job_goes_from_queued_to_completed_with_a_downloadable_mp4(served: Served) -> None:
    _sandbox, client, clock = served
    job = await submit(client)
    base = str(client.base_url).rstrip("/")
    request_id = job["request_id"]

    assert job["status"] == "IN_QUEUE" and job["queue_position"] == 0
    assert job["response_url"] == f"{base}/fal-ai/pika/requests/{request_id}"
    assert job["status_url"] == job["response_url"] + "/status"
    assert job["cancel_url"] == job["response_url"] + "/cancel"
    assert job["gateway_request_id"]
    queued = await client.get(job["status_url"])
    assert queued.status_code == 202
    assert queued.json()["status"] == "IN_QUEUE" and queued.json()["logs"] is None
    early = await client.get(job["response_url"])
    assert early.status_code == 400 and early.json() == {"detail": "Request is still in progress"}

    clock.advance(10)
    running = await client.get(job["status_url"], params={"logs": "1"})
    assert running.status_code == 202 and running.json()["status"] == "IN_PROGRESS"
    assert "queue_position" not in running.json()
    assert running.json()["logs"][0]["source"] == "USER"

    clock.advance(20)
    done = (await events(client, job["status_url"]))[-1]
    assert done["status"] == "COMPLETED" and done["metrics"] == {"inference_time": 20.0}
    final = await client.get(job["status_url"], params={"logs": "true"})
    assert final.status_code == 200 and final.json()["logs"][-1]["level"] == "INFO"
    result = await client.get(job["response_url"])
    assert result.status_code == 200
    assert result.headers["x-fal-request-id"] == request_id
    video = result.json()["video"]
    assert video["content_type"] == "video/mp4" and video["url"].startswith(f"{base}/files/")
    download = await client.get(video["url"])
    assert download.status_code == 200 and download.headers["content-type"] == "video/mp4"
    assert len(download.content) == video["file_size"] == int(download.headers["content-length"])
    assert download.content[4:8] == b"ftyp"


async def test_queue_positions_count_earlier_jobs_still_queued(served: Served) -> None:
    _sandbox, client, clock = served
    first = await submit(client)
    clock.advance(4)
    second = await submit(client)
    third = await submit(client)

    assert [first["queue_position"], second["queue_position"], third["queue_position"]] == [0, 1, 2]
    clock.advance(6)  # the first job starts running
    status = (await client.get(third["status_url"])).json()
    assert status == {**status, "status": "IN_QUEUE", "queue_position": 1}


async def test_failed_job_reports_completed_and_its_result_carries_the_error(
    served: Served,
) -> None:
    sandbox, client, clock = served
    sandbox.config.fail_next.append(FailSpec(status=422, detail="Flagged.", error_type="content_policy_violation"))
    sandbox.config.fail_next.append(FailSpec())
    refused = await submit(client)
    crashed = await submit(client)
    clock.advance(30)

    for job in (refused, crashed):
        status = await client.get(job["status_url"])
        assert status.status_code == 200 and status.json()["status"] == "COMPLETED"
        assert "error" not in status.json()
    policy = await client.get(refused["response_url"])
    assert policy.status_code == 422
    assert policy.json() == {"detail": [{"loc": ["body", "prompt"], "msg": "Flagged.", "type": "content_policy_violation"}]}
    server = await client.get(crashed["response_url"])
    assert server.status_code == 500
    assert server.json()["error_type"] == "runner_server_error"
    assert server.headers["x-fal-error-type"] == "runner_server_error"


async def test_cancel_of_a_queued_job_answers_ok_and_the_result_says_client_cancelled(
    served: Served,
) -> None:
    _sandbox, client, _clock = served
    job = await submit(client)

    cancel = await client.put(job["cancel_url"])

    assert cancel.status_code == 200 and cancel.json() == {"status": "OK"}
    status = await client.get(job["status_url"])
    assert status.status_code == 200 and status.json()["status"] == "COMPLETED"
    result = await client.get(job["response_url"])
    assert result.status_code == 499
    assert result.json() == {"detail": "Request was cancelled.", "error_type": "client_cancelled"}


async def test_cancel_of_a_running_job_is_requested_then_the_job_ends_cancelled(
    served: Served,
) -> None:
    _sandbox, client, clock = served
    job = await submit(client)
    clock.advance(12)

    cancel = await client.put(job["cancel_url"])

    assert cancel.status_code == 202 and cancel.json() == {"status": "CANCELLATION_REQUESTED"}
    assert (await client.get(job["status_url"])).json()["status"] == "IN_PROGRESS"
    clock.advance(1)  # cancel_seconds later the runner has stopped
    assert (await events(client, job["status_url"]))[-1]["status"] == "COMPLETED"
    result = await client.get(job["response_url"])
    assert result.status_code == 499 and result.json()["error_type"] == "client_cancelled"


async def test_cancel_of_a_finished_job_answers_already_completed(served: Served) -> None:
    _sandbox, client, clock = served
    job = await submit(client)
    clock.advance(30)
    await events(client, job["status_url"])

    cancel = await client.put(job["cancel_url"])

    assert cancel.status_code == 400 and cancel.json() == {"status": "ALREADY_COMPLETED"}
    assert (await client.get(job["response_url"])).status_code == 200


async def test_cancel_and_status_of_an_unknown_request_answer_404(served: Served) -> None:
    _sandbox, client, _clock = served
    unknown = "/fal-ai/pika/requests/00000000-0000-0000-0000-000000000000"

    cancel = await client.put(f"{unknown}/cancel")

    assert cancel.status_code == 404 and cancel.json() == {"status": "NOT_FOUND"}
    assert (await client.get(f"{unknown}/status")).status_code == 404
    assert (await client.get(unknown)).status_code == 404
    job = await submit(client)
    other_app = job["status_url"].replace("/fal-ai/pika/", "/fal-ai/kling/")
    assert (await client.get(other_app)).status_code == 404


async def test_submit_needs_a_key_and_a_known_endpoint(served: Served) -> None:
    sandbox, client, _clock = served

    anonymous = await client.post(T2V, json={"prompt": "a cat"}, headers={"Authorization": ""})
    unknown = await client.post("/fal-ai/pika/v9/text-to-video", json={"prompt": "a cat"})

    assert anonymous.status_code == 401 and isinstance(anonymous.json()["detail"], str)
    assert unknown.status_code == 404 and isinstance(unknown.json()["detail"], str)
    assert sandbox.job_ids() == []


async def test_status_stream_pushes_each_change_and_closes_after_completed(
    served: Served,
) -> None:
    _sandbox, client, clock = served
    job = await submit(client)
    statuses: list[str] = []
    logged: list[str] = []
    seen = {status: anyio.Event() for status in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")}

    async def read() -> None:
        params = {"logs": "1"}
        async with client.stream("GET", f"{job['status_url']}/stream", params=params) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    statuses.append(event["status"])
                    logged.extend(entry["message"] for entry in event["logs"])
                    seen[event["status"]].set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(read)
            await seen["IN_QUEUE"].wait()
            clock.advance(10)
            await seen["IN_PROGRESS"].wait()
            clock.advance(20)

    assert statuses == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    assert logged and len(logged) == len(set(logged)), "each log line arrives once"


async def test_status_stream_sends_ping_comments_while_nothing_changes(served: Served) -> None:
    sandbox, client, _clock = served
    sandbox.config.ping_seconds = 0.05
    job = await submit(client)
    lines: list[str] = []

    with anyio.fail_after(5):
        async with client.stream("GET", f"{job['status_url']}/stream") as response:
            async for line in response.aiter_lines():
                lines.append(line)
                if line.startswith(": ping"):
                    break

    assert json.loads(lines[0].removeprefix("data: "))["status"] == "IN_QUEUE"
    assert lines[-1] == ": ping"


async def test_status_stream_delivers_completion_within_a_second_on_the_real_clock(
    tmp_path: Path,
) -> None:
    config = SandboxConfig(queue_seconds=0.05, run_seconds=0.2)
    sandbox = Sandbox(tmp_path, config, renderer=copy_preview)
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base, headers=KEY) as c:
        job = await submit(c)
        arrived = float("inf")
        with anyio.fail_after(5):
            async with c.stream("GET", f"{job['status_url']}/stream") as response:
                async for line in response.aiter_lines():
                    if '"COMPLETED"' in line:
                        arrived = time.time()
    stored = sandbox.job(job["request_id"])
    sandbox.close()
    assert stored is not None
    assert arrived - stored.ends_at < 1.0


async def test_a_job_completes_only_once_its_video_file_exists(tmp_path: Path) -> None:
    release = threading.Event()

    def slow_renderer(endpoint_id: str, body: dict[str, Any], out: Path, fetch: Any) -> None:
        release.wait(10)
        copy_preview(endpoint_id, body, out)

    config = SandboxConfig(queue_seconds=0, run_seconds=0)
    sandbox = Sandbox(tmp_path, config, renderer=slow_renderer)
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base, headers=KEY) as c:
        job = await submit(c)
        assert (await c.get(job["status_url"])).json()["status"] == "IN_PROGRESS"
        release.set()
        assert (await events(c, job["status_url"]))[-1]["status"] == "COMPLETED"
        assert (await c.get(job["response_url"])).status_code == 200
    sandbox.close()


async def test_a_renderer_that_raises_fails_the_job_with_a_runner_server_error(
    tmp_path: Path,
) -> None:
    def broken(endpoint_id: str, body: dict[str, Any], out: Path, fetch: Any) -> None:
        raise ValueError("no frames")

    sandbox = Sandbox(tmp_path, SandboxConfig(queue_seconds=0, run_seconds=0), renderer=broken)
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base, headers=KEY) as c:
        job = await submit(c)
        assert (await events(c, job["status_url"]))[-1]["status"] == "COMPLETED"
        result = await c.get(job["response_url"])
    sandbox.close()
    assert result.status_code == 500
    assert result.headers["x-fal-error-type"] == "runner_server_error"
    assert "no frames" in result.json()["detail"]


async def test_the_default_renderer_writes_a_playable_mp4(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path, SandboxConfig(queue_seconds=0, run_seconds=0))
    # The status stream is quiet while the video renders (a ping only every 15 s): wait longer than httpx2's 5 s default.
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base, headers=KEY, timeout=60) as c:
        answer = await c.post("/fal-ai/pika/v2.1/text-to-video", json={"prompt": "a cat", "duration": 1, "resolution": "720p"})
        job = answer.json()
        await events(c, job["status_url"])
        result = await c.get(job["response_url"])
        assert result.status_code == 200, result.text
        video = await c.get(result.json()["video"]["url"])
    sandbox.close()
    assert video.content[4:8] == b"ftyp"

"""Injected faults behave on the wire like fal's bad days, and the control routes drive them."""

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest

from pika_mcp.sandbox import Fault, Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox.preview import copy_preview
from pika_mcp.sandbox.record import fingerprint
from pika_mcp.sandbox.remote import SandboxControl

pytestmark = pytest.mark.anyio

T2V = "/fal-ai/pika/v2.2/text-to-video"
KEY = {"Authorization": "Key test-key"}
Served = tuple[Sandbox, httpx2.AsyncClient]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    config = SandboxConfig(queue_seconds=60, run_seconds=60)
    sandbox = Sandbox(tmp_path / "sandbox", config, renderer=copy_preview)
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base, headers=KEY) as c:
        yield sandbox, c
    sandbox.close()


async def test_http_fault_answers_its_status_and_headers_once(served: Served) -> None:
    sandbox, client = served
    sandbox.config.faults.append(Fault(op="submit", status=503, headers={"Retry-After": "2"}))

    refused = await client.post(T2V, json={"prompt": "a cat"})
    accepted = await client.post(T2V, json={"prompt": "a cat"})

    assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
    assert isinstance(refused.json()["detail"], str)
    assert accepted.status_code == 200
    assert sandbox.counts["submit"] == 2 and len(sandbox.job_ids()) == 1


async def test_user_timeout_fault_carries_fal_timeout_type_header(served: Served) -> None:
    sandbox, client = served
    job = (await client.post(T2V, json={"prompt": "a cat"})).json()
    sandbox.config.faults.append(
        Fault(
            op="status",
            status=504,
            error_type="request_timeout",
            headers={"X-Fal-Request-Timeout-Type": "user"},
        )
    )

    response = await client.get(job["status_url"])

    assert response.status_code == 504
    assert response.headers["x-fal-request-timeout-type"] == "user"
    assert response.headers["x-fal-error-type"] == "request_timeout"
    assert response.json()["error_type"] == "request_timeout"


async def test_reset_fault_closes_the_connection_without_an_answer(served: Served) -> None:
    sandbox, client = served
    job = (await client.post(T2V, json={"prompt": "a cat"})).json()
    sandbox.config.faults.append(Fault(op="status", kind="reset", times=2))

    for _ in range(2):
        with pytest.raises(httpx2.TransportError):
            await client.get(job["status_url"])
    assert (await client.get(job["status_url"])).status_code == 202


async def test_lost_answer_on_submit_creates_the_job_but_never_answers(served: Served) -> None:
    sandbox, client = served
    sandbox.config.faults.append(Fault(op="submit", kind="lost_answer"))

    with pytest.raises(httpx2.TransportError):
        await client.post(T2V, json={"prompt": "a cat"})

    assert len(sandbox.job_ids()) == 1
    assert sandbox.received[-1].json == {"prompt": "a cat"}


async def test_hang_fault_never_answers_until_the_client_gives_up(served: Served) -> None:
    sandbox, client = served
    sandbox.config.faults.append(Fault(op="token", kind="hang"))

    with pytest.raises(httpx2.ReadTimeout):
        await client.post("/storage/auth/token", json={}, timeout=0.2)

    assert (await client.post("/storage/auth/token", json={})).status_code == 200


async def test_a_hanging_request_does_not_block_shutdown(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path, renderer=copy_preview)
    sandbox.config.faults.append(Fault(op="token", kind="hang"))

    async def call(client: httpx2.AsyncClient) -> None:
        with pytest.raises(httpx2.TransportError):
            await client.post("/storage/auth/token", json={}, headers=KEY)

    with anyio.fail_after(30):  # guards against a hang only
        async with (
            serve_sandbox(sandbox) as base,
            httpx2.AsyncClient(base_url=base) as client,
            anyio.create_task_group() as group,
        ):
            group.start_soon(call, client)
            # Until the request hangs in the sandbox (not wait_all_tasks_blocked: its 0.1 s polls can fall into step
            # with uvicorn's 0.1 s ticks and never see every task blocked).
            while sandbox.counts["token"] == 0:
                await anyio.sleep(0.01)
            sandbox.stop()
    sandbox.close()


async def test_slow_fault_delays_the_answer_but_still_answers(served: Served) -> None:
    sandbox, client = served
    sandbox.config.faults.append(Fault(op="submit", kind="slow", delay_seconds=0.05))

    response = await client.post(T2V, json={"prompt": "a cat"})

    assert response.status_code == 200 and response.json()["status"] == "IN_QUEUE"


async def test_every_request_is_recorded_with_lowercased_headers_query_and_json(
    served: Served,
) -> None:
    sandbox, client = served
    job = (await client.post(T2V, json={"prompt": "a cat"}, headers={"X-Fal-Queue-Priority": "low"})).json()
    await client.get(job["status_url"], params={"logs": "1"})

    submit, status = sandbox.received
    assert (submit.method, submit.path, submit.op) == ("POST", T2V, "submit")
    assert submit.headers["authorization"] == fingerprint("Key test-key") != "Key test-key"
    assert submit.headers["x-fal-queue-priority"] == "low"
    assert submit.json == {"prompt": "a cat"}
    assert status.query == {"logs": "1"} and status.json is None
    assert dict(sandbox.counts) == {"submit": 1, "status": 1}


async def test_control_routes_set_faults_failures_and_reset_over_http(served: Served) -> None:
    sandbox, client = served
    control = SandboxControl.of(sandbox.state_dir, client, str(client.base_url))

    added = await control.add_faults({"op": "submit", "status": 429})
    configured = await control.configure(queue_seconds=0, fail_next=[{"status": 422, "detail": "Bad.", "error_type": "x"}])
    limited = await client.post(T2V, json={"prompt": "a cat"})
    recorded, counts = await control.received()
    health = (await client.get("/_sandbox/health")).json()  # the one route without the token
    await control.reset()

    assert added[0]["status"] == 429
    assert configured["queue_seconds"] == 0
    assert limited.status_code == 429
    assert counts == {"submit": 1}
    assert recorded[0]["json"] == {"prompt": "a cat"}
    assert health["status"] == "ok"
    assert sandbox.received == [] and sandbox.config.fail_next == [] and sandbox.config.faults == []
    bad = await client.post("/_sandbox/config", json={"queue_secs": 1}, headers=control.headers)
    assert bad.status_code == 400 and "queue_secs" in bad.json()["detail"]

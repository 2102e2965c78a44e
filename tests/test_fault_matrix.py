"""The fault matrix: every fault the sandbox injects, at every operation, against the retry policy (pika_mcp/retry.py).

Each cell injects one fault once (the way fal has a bad moment) and checks what the caller sees:

- `ok`: retried (or waited out) and the call ends as if nothing happened;
- `error`: an `isError` result that names fal's answer; nothing charged, nothing submitted;
- `unknown`: a submit whose answer was lost: the job is `failed` with `submit_outcome_unknown`;
- `failed`: fal's answer is final (a 504 carrying `X-Fal-Request-Timeout-Type`): the job is `failed`;
- `no_copy`: the job succeeded but its video could not be saved locally; fal's URL is kept.

In every cell the fault was really used, and no call made more than one job at fal.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from pika_mcp import runtime
from pika_mcp.retry import RetryPolicy
from pika_mcp.sandbox import Fault
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import Fal, final, make_settings

pytestmark = pytest.mark.anyio

ASSETS = Path(__file__).resolve().parent.parent / "pika_mcp" / "assets"
# Short client timeouts so that a hang costs a second, not a minute.
TIMEOUT = httpx2.Timeout(1.0, connect=1.0)
TIMEOUT_TYPE = {"X-Fal-Request-Timeout-Type": "user"}

FAULTS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "error_type": None},
    "429 Retry-After": {"status": 429, "headers": {"Retry-After": "2"}},
    "500": {"status": 500, "error_type": "runner_server_error"},
    "502": {"status": 502, "error_type": "runner_incomplete_response"},
    "503": {"status": 503, "error_type": "runner_scheduling_failure"},
    "504": {"status": 504, "error_type": "startup_timeout"},
    "504 timeout-type": {"status": 504, "error_type": "request_timeout", "headers": TIMEOUT_TYPE},
    "reset": {"kind": "reset"},
    "hang": {"kind": "hang"},
    "slow": {"kind": "slow", "delay_seconds": 0.3},
    "lost answer": {"kind": "lost_answer"},
}
RETRIED = {"429", "429 Retry-After", "500", "502", "503", "504", "reset", "hang", "lost answer"}

# The retry table, cell by cell. Every operation but submit retries all transient answers and
# transport errors; a 504 carrying fal's timeout type is final. Submit retries only 429 (and a
# connection that never opened, tested below): anything else may have made a job at fal.
SUBMIT = {"429": "ok", "429 Retry-After": "ok", "slow": "ok", "reset": "unknown", "hang": "unknown", "lost answer": "unknown"}
EXPECTED: dict[str, dict[str, str]] = {
    "submit": {name: SUBMIT.get(name, "error") for name in FAULTS},
    "status": dict.fromkeys(FAULTS, "ok"),  # the tracker tries again later, whatever the answer
    "stream": dict.fromkeys(FAULTS, "ok"),  # polling takes over
    "result": {name: "failed" if name == "504 timeout-type" else "ok" for name in FAULTS},
    "cancel": {name: "error" if name == "504 timeout-type" else "ok" for name in FAULTS},
    "token": {name: "error" if name == "504 timeout-type" else "ok" for name in FAULTS},
    "upload": {name: "error" if name == "504 timeout-type" else "ok" for name in FAULTS},
    "download": {name: "no_copy" if name == "504 timeout-type" else "ok" for name in FAULTS},
}
CELLS = [(op, name) for op, row in EXPECTED.items() for name in row]


@dataclasses.dataclass
class Sleeps:
    """The retry policy's waits, recorded and shortened so that the matrix runs in seconds."""

    asked: list[float] = dataclasses.field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await anyio.sleep(min(seconds, 0.02))


@asynccontextmanager
async def connected(settings: Settings, sleeps: Sleeps):  # type: ignore[no-untyped-def]
    policy = RetryPolicy(first_delay=0.01, max_delay=0.05, sleep=sleeps)
    async with httpx2.AsyncClient(timeout=TIMEOUT, follow_redirects=True) as http:
        server = build_server(settings, lambda: runtime.start(settings, http=http, retry=policy))
        async with Client(server.mcp) as client:
            yield client


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "allowed" / "fox.png"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes((ASSETS / "fox.png").read_bytes())
    return path


@pytest.mark.parametrize(("op", "fault_name"), CELLS, ids=[f"{op}-{name.replace(' ', '_')}" for op, name in CELLS])
async def test_fault_cell(op: str, fault_name: str, tmp_path: Path, fal: Fal, image: Path) -> None:
    expected = EXPECTED[op][fault_name]
    config = fal.sandbox.config
    config.queue_seconds = config.run_seconds = 0.05
    config.ping_seconds = 0.3  # keep quiet streams under the short read timeout
    if op == "status":
        config.faults.append(Fault(op="stream", status=405, times=None))  # polled, so status is what is hit
    if op == "cancel":
        config.queue_seconds = 30  # still queued when the cancel arrives
    fault = Fault(op=op, **FAULTS[fault_name])  # type: ignore[arg-type]
    if op != "cancel":
        config.faults.append(fault)
    settings = make_settings(tmp_path, fal.url)
    sleeps = Sleeps()
    wait = 0 if op == "cancel" else 10  # waiting is watching: streamed, or polled quickly
    tool, args = "pika_v22_text_to_video", {"prompt": f"{op} {fault_name}", "wait_seconds": wait}
    if op in ("token", "upload"):
        tool, args = "pika_v22_image_to_video", args | {"image_url": str(image)}

    async with connected(settings, sleeps) as client:
        result = await client.call_tool(tool, args)
        job = result.structured_content
        if op == "cancel" and not result.is_error:
            config.faults.append(fault)
            result = await client.call_tool("pika_cancel_job", {"job_id": job["job_id"]})
            if result.is_error:
                config.queue_seconds = 0.3
        if not result.is_error:
            job = await final(client, result.structured_content["job_id"])

    where = f"{op} × {fault_name}"
    assert fault not in config.faults, f"{where}: the fault was never hit"
    assert len(fal.sandbox.job_ids()) <= 1, f"{where}: one call made {len(fal.sandbox.job_ids())} jobs at fal"
    if expected == "error":
        text = result.content[0].text
        assert result.is_error, f"{where}: expected an error result, got {job}"
        assert str(fault.status) in text and "Traceback" not in text, text
        if op != "cancel":
            assert fal.sandbox.job_ids() == [], f"{where}: a refused call still made a job"
        else:  # the job is untouched and still followed
            assert (await_status := job["status"]) in ("queued", "running", "succeeded"), await_status
        return
    assert not result.is_error, f"{where}: {result.content[0].text}"
    if expected == "unknown":
        assert job["status"] == "failed" and job["error"]["type"] == "submit_outcome_unknown", job
        assert "before retrying" in job["error"]["message"]
        assert len(fal.sent("submit")) == 1, f"{where}: a lost submit answer was retried"
        return
    if expected == "failed":
        assert job["status"] == "failed" and job["error"]["type"] == "provider_error", job
        assert "request_timeout" in job["error"]["message"]
        return
    want = "cancelled" if op == "cancel" else "succeeded"
    assert job["status"] == want, f"{where}: {job}"
    if expected == "no_copy":
        assert job["video"]["url"] and job["video"]["local_path"] is None, job
        assert "504" in job["video"]["save_error"], job
    elif want == "succeeded":
        assert Path(job["video"]["local_path"]).stat().st_size > 0
    if op == "submit":
        assert len(fal.sent("submit")) == (2 if fault_name in RETRIED else 1)
    elif fault_name in RETRIED and op not in ("status", "stream"):
        assert len(fal.sent(op)) >= 2, f"{where}: not retried"
    if fault_name == "429 Retry-After" and op != "stream":  # a refused stream hands over to polling at once
        assert 2.0 in sleeps.asked, f"{where}: Retry-After was not honoured ({sleeps.asked})"


@pytest.mark.parametrize(
    ("op", "status", "headers"),
    [("submit", 429, {}), ("token", 503, {}), ("upload", 502, {}), ("result", 503, {})],
)
async def test_a_fault_that_persists_gives_up_after_five_tries(
    op: str, status: int, headers: dict[str, str], tmp_path: Path, fal: Fal, image: Path
) -> None:
    fal.sandbox.config.faults.append(Fault(op=op, status=status, headers=headers, times=None))  # type: ignore[arg-type]
    settings = make_settings(tmp_path, fal.url)
    args = {"prompt": "persistent", "wait_seconds": 0, "image_url": str(image)}
    async with connected(settings, Sleeps()) as client:
        result = await client.call_tool("pika_v22_image_to_video", args)
        if op == "result":
            job = await final(client, result.structured_content["job_id"])
    assert len(fal.sent(op)) == 5
    if op == "result":  # fal's result URL is where it reports failures: five 503s are its verdict
        assert job["status"] == "failed" and job["error"]["type"] == "provider_error", job
        return
    assert result.is_error and str(status) in result.content[0].text
    assert fal.sandbox.job_ids() == []


async def test_status_failing_for_a_while_never_loses_the_job(tmp_path: Path, fal: Fal) -> None:
    stuck = Fault(op="status", status=503, times=None)
    fal.sandbox.config.faults += [Fault(op="stream", status=405, times=None), stuck]
    settings = make_settings(tmp_path, fal.url)
    async with connected(settings, Sleeps()) as client:
        job = (await client.call_tool("pika_v22_text_to_video", {"prompt": "patience", "wait_seconds": 2})).structured_content
        assert job["status"] == "queued" and len(fal.sent("status")) >= 5  # fal is done; we cannot tell yet
        fal.sandbox.config.faults.remove(stuck)
        job = (await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 15})).structured_content
    assert job["status"] == "succeeded"


async def test_cancel_that_cannot_reach_fal_is_an_error_and_the_job_goes_on(tmp_path: Path, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds = 1.0
    settings = make_settings(tmp_path, fal.url)
    async with connected(settings, Sleeps()) as client:
        job = (await client.call_tool("pika_v22_text_to_video", {"prompt": "go on", "wait_seconds": 0})).structured_content
        fal.sandbox.config.faults.append(Fault(op="cancel", kind="reset", times=None))
        refused = await client.call_tool("pika_cancel_job", {"job_id": job["job_id"]})
        job = (await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 15})).structured_content
    assert refused.is_error and "not cancelled" in refused.content[0].text and "Traceback" not in refused.content[0].text
    assert len(fal.sent("cancel")) == 5
    assert job["status"] == "succeeded"


async def test_a_submit_whose_connection_never_opened_is_retried_and_reported(tmp_path: Path) -> None:
    with socket_nobody_listens_on() as url:
        settings = make_settings(tmp_path, url)
        sleeps = Sleeps()
        async with connected(settings, sleeps) as client:
            result = await client.call_tool("pika_v22_text_to_video", {"prompt": "nobody home", "wait_seconds": 0})
            listing = (await client.call_tool("pika_list_jobs", {})).structured_content
    assert result.is_error and "Nothing was submitted" in result.content[0].text
    assert len(sleeps.asked) == 4  # five tries
    [job] = listing["jobs"]  # the intent is in the ledger, settled as failed, and costs nothing
    assert job["status"] == "failed" and listing["spend_24h_usd"] == 0


@contextmanager
def socket_nobody_listens_on() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"

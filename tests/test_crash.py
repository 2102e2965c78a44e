"""Real processes killed with SIGKILL at each dangerous moment: after a restart every job is accounted for."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from pika_mcp.sandbox import Fault
from tests.conftest import TEST_KEY, Fal

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")]


def params(home: Path, fal: Fal, tmp_path: Path) -> StdioServerParameters:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "FAL_KEY": TEST_KEY,
        "PIKA_MCP_QUEUE_URL": fal.url,
        "PIKA_MCP_REST_URL": fal.url,
        "PIKA_MCP_HOME": str(home),
        "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out"),
        "PIKA_MCP_ALLOWED_DIRS": str(tmp_path / "allowed"),
        "PIKA_MCP_LOG_LEVEL": "WARNING",
    }
    return StdioServerParameters(command=sys.executable, args=["-m", "pika_mcp"], env=env)


def server_pids(home: Path) -> list[int]:
    pids = []
    for lock in (home / "trackers").glob("*.lock"):
        text = lock.read_text().strip()
        if text:
            pids.append(int(text))
    return pids


@asynccontextmanager
async def killed_at_the_end(home: Path, fal: Fal, tmp_path: Path) -> AsyncIterator[Client]:
    """A client whose server process is SIGKILLed when the block ends (the client sees the pipe die)."""
    failure: BaseException | None = None
    with anyio.CancelScope() as scope:
        try:
            async with Client(params(home, fal, tmp_path)) as client:
                try:
                    yield client
                except BaseException as exc:  # the test's own failure must surface, not the dead pipe's
                    failure = exc
                for pid in server_pids(home):
                    os.kill(pid, signal.SIGKILL)
                scope.cancel()
        except Exception:  # the transport breaks when its process dies
            pass
    if failure is not None:
        raise failure


def integrity(home: Path) -> str:
    with sqlite3.connect(home / "jobs.sqlite3") as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


async def start_call(client: Client, args: dict, started: anyio.Event) -> None:
    started.set()
    try:
        await client.call_tool("pika_v22_text_to_video", args)
    except Exception:
        pass


async def kill_during_call(tmp_path: Path, fal: Fal, home: Path, args: dict, reached: str) -> None:
    """Start a call, wait until the sandbox saw operation `reached`, then SIGKILL the server."""
    async with killed_at_the_end(home, fal, tmp_path) as client, anyio.create_task_group() as tg:
        started = anyio.Event()
        tg.start_soon(start_call, client, args, started)
        await started.wait()
        with anyio.fail_after(20):
            while fal.sandbox.counts[reached] == 0:
                await anyio.sleep(0.02)
        for pid in server_pids(home):
            os.kill(pid, signal.SIGKILL)
        tg.cancel_scope.cancel()


async def test_killed_after_sending_a_submit_reports_outcome_unknown_after_restart(tmp_path: Path, fal: Fal) -> None:
    home = tmp_path / "home"
    fal.sandbox.config.faults.append(Fault(op="submit", kind="hang"))
    await kill_during_call(tmp_path, fal, home, {"prompt": "lost in flight", "wait_seconds": 120}, "submit")
    assert integrity(home) == "ok"
    async with Client(params(home, fal, tmp_path)) as client:
        listing = (await client.call_tool("pika_list_jobs", {})).structured_content
    [job] = listing["jobs"]
    assert job["status"] == "failed" and job["error"]["type"] == "submit_outcome_unknown"
    assert "before retrying" in job["error"]["message"]
    assert integrity(home) == "ok"


async def test_killed_while_waiting_the_job_is_tracked_to_the_end_after_restart(tmp_path: Path, fal: Fal) -> None:
    home = tmp_path / "home"
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 1.0, 1.0
    await kill_during_call(tmp_path, fal, home, {"prompt": "keep going", "wait_seconds": 60}, "stream")
    assert integrity(home) == "ok"
    async with Client(params(home, fal, tmp_path)) as client:
        [job] = (await client.call_tool("pika_list_jobs", {})).structured_content["jobs"]
        final = (
            await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 120})
        ).structured_content
    assert final["status"] == "succeeded"
    assert len(fal.sent("submit")) == 1
    assert integrity(home) == "ok"


async def test_killed_during_the_result_fetch_the_job_still_succeeds_after_restart(tmp_path: Path, fal: Fal) -> None:
    home = tmp_path / "home"
    fal.sandbox.config.faults.append(Fault(op="result", kind="hang"))
    await kill_during_call(tmp_path, fal, home, {"prompt": "result hangs", "wait_seconds": 60}, "result")
    assert integrity(home) == "ok"
    async with Client(params(home, fal, tmp_path)) as client:
        [job] = (await client.call_tool("pika_list_jobs", {})).structured_content["jobs"]
        final = (
            await client.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 120})
        ).structured_content
    assert final["status"] == "succeeded" and final["video"]["url"]


async def test_killed_during_the_download_the_video_is_saved_after_restart(tmp_path: Path, fal: Fal) -> None:
    home = tmp_path / "home"
    fal.sandbox.config.faults.append(Fault(op="download", kind="hang"))
    await kill_during_call(tmp_path, fal, home, {"prompt": "download hangs", "wait_seconds": 60}, "download")
    assert integrity(home) == "ok"
    assert not [p for p in (tmp_path / "out").glob("*.mp4")]
    async with Client(params(home, fal, tmp_path)) as client:
        [job] = (await client.call_tool("pika_list_jobs", {})).structured_content["jobs"]
        with anyio.fail_after(30):
            while not (job.get("video") or {}).get("local_path"):
                await anyio.sleep(0.1)
                job = (await client.call_tool("pika_get_job", {"job_id": job["job_id"]})).structured_content
    assert job["status"] == "succeeded"
    assert Path(job["video"]["local_path"]).stat().st_size == job["video"]["file_size"]
    assert not list((tmp_path / "out").glob(".*.part"))


async def test_killed_while_uploading_an_input_nothing_was_submitted(tmp_path: Path, fal: Fal) -> None:
    home = tmp_path / "home"
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    image = allowed / "cat.png"
    image.write_bytes((Path(__file__).resolve().parent.parent / "pika_mcp" / "assets" / "fox.png").read_bytes())
    fal.sandbox.config.faults.append(Fault(op="upload", kind="hang"))
    args = {"image_url": str(image), "prompt": "upload hangs", "wait_seconds": 60}
    async with killed_at_the_end(home, fal, tmp_path) as client, anyio.create_task_group() as tg:

        async def call() -> None:
            try:
                await client.call_tool("pika_v22_image_to_video", args)
            except Exception:
                pass

        tg.start_soon(call)
        with anyio.fail_after(20):
            while fal.sandbox.counts["upload"] == 0:
                await anyio.sleep(0.02)
        for pid in server_pids(home):
            os.kill(pid, signal.SIGKILL)
        tg.cancel_scope.cancel()
    assert integrity(home) == "ok"
    assert fal.sent("submit") == []
    async with Client(params(home, fal, tmp_path)) as client:
        listing = (await client.call_tool("pika_list_jobs", {})).structured_content
    assert listing["jobs"] == []

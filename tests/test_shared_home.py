"""Two server processes on one home (two desktop clients): one sandbox, one ledger, each job tracked once."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from pika_mcp.sandbox.remote import SandboxControl

pytestmark = pytest.mark.anyio


def params(home: Path, tmp_path: Path) -> StdioServerParameters:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "PIKA_MCP_BACKEND": "sandbox",
        "PIKA_MCP_HOME": str(home),
        "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out"),
        "PIKA_MCP_LOG_LEVEL": "WARNING",
    }
    return StdioServerParameters(command=sys.executable, args=["-m", "pika_mcp"], env=env)


async def test_two_processes_share_the_embedded_sandbox_and_the_ledger(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with Client(params(home, tmp_path)) as a, Client(params(home, tmp_path)) as b:
        async with httpx2.AsyncClient() as http:
            await SandboxControl.of(home / "sandbox", http).configure(queue_seconds=0.2, run_seconds=0.4)
        ids = []
        async with anyio.create_task_group() as tg:

            async def submit(client: Client, n: int) -> None:
                result = await client.call_tool(
                    "pika_v2_turbo_text_to_video", {"prompt": f"shared {n}", "duration": 1, "wait_seconds": 0}
                )
                ids.append(result.structured_content["job_id"])

            for n in range(6):
                tg.start_soon(submit, a if n % 2 else b, n)
        finals = []
        for n, job_id in enumerate(ids):  # each waits on jobs the other process submitted too
            client = b if n % 2 else a
            finals.append(
                (await client.call_tool("pika_wait_for_job", {"job_id": job_id, "timeout_seconds": 120})).structured_content
            )
        listing_a = (await a.call_tool("pika_list_jobs", {})).structured_content
    assert [f["status"] for f in finals] == ["succeeded"] * 6
    assert all(f["backend"] == "sandbox" and f["estimated_cost_usd"] == 0 for f in finals)
    assert sorted(j["job_id"] for j in listing_a["jobs"]) == sorted(ids)
    with sqlite3.connect(home / "jobs.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finals_per_job = db.execute(
            "SELECT local_id, COUNT(*) FROM events WHERE status IN ('succeeded', 'failed', 'cancelled') GROUP BY local_id"
        ).fetchall()
        trackers = {row[0] for row in db.execute("SELECT tracker FROM jobs")}
    assert len(finals_per_job) == 6 and all(count == 1 for _, count in finals_per_job)
    assert len(trackers) == 2  # each process tracks the jobs it submitted, and only those


async def test_when_the_hosting_process_ends_the_other_takes_over_the_sandbox(tmp_path: Path) -> None:
    home = tmp_path / "home"
    host_up, host_leave = anyio.Event(), anyio.Event()

    async def host() -> None:
        async with Client(params(home, tmp_path)) as client:
            await client.call_tool("pika_list_jobs", {})  # answered once the runtime, and the sandbox it hosts, is up
            host_up.set()
            await host_leave.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(host)
        await host_up.wait()
        address = (home / "sandbox" / "address.json").read_text()
        async with Client(params(home, tmp_path)) as other:
            job = (
                await other.call_tool(
                    "pika_v2_turbo_text_to_video", {"prompt": "outlives its host", "duration": 1, "wait_seconds": 0}
                )
            ).structured_content
            host_leave.set()  # the host's client closes: that server process exits, and its sandbox with it
            final = (
                await other.call_tool("pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 120})
            ).structured_content
    assert final["status"] == "succeeded"
    assert (home / "sandbox" / "address.json").read_text() == address

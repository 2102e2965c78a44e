"""A server per call (LangChain's default): every call a new stdio process on one home, the video still saved and reachable."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters

from pika_mcp.ledger import Ledger

pytestmark = pytest.mark.anyio


def one_call_server(tmp_path: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIKA_MCP_", "FAL_"))}
    env |= {
        "PIKA_MCP_HOME": str(tmp_path / "home"),  # no key: the embedded sandbox, hosted by whichever process runs
        "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out"),
        "PIKA_MCP_LOG_LEVEL": "WARNING",
    }
    return StdioServerParameters(command=sys.executable, args=["-P", "-m", "pika_mcp"], env=env)


async def call(tmp_path: Path, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with Client(one_call_server(tmp_path)) as client:
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content  # type: ignore[return-value]


async def test_a_flow_with_a_new_server_process_per_call_ends_saved_recorded_and_reachable(tmp_path: Path) -> None:
    job = await call(tmp_path, "pika_v2_turbo_text_to_video", {"prompt": "a process per call", "wait_seconds": 0})
    assert job["status"] in ("queued", "running")
    done = job
    for _ in range(20):  # each wait is a new process; the job is taken over by whichever one runs
        done = await call(tmp_path, "pika_wait_for_job", {"job_id": job["job_id"], "timeout_seconds": 120})
        if done["status"] == "succeeded":
            break
    assert done["status"] == "succeeded", done
    assert Path(done["video"]["local_path"]).is_file()
    ledger = Ledger(tmp_path / "home" / "jobs.sqlite3")
    try:
        recorded = ledger.get(job["job_id"])
        assert (
            recorded is not None
            and recorded.status == "succeeded"
            and recorded.video["local_path"] == done["video"]["local_path"]
        )
    finally:
        ledger.close()
    # The URL the model saw works, at the same address, from the next process on this home.
    async with Client(one_call_server(tmp_path)) as client:
        later = (await client.call_tool("pika_get_job", {"job_id": job["job_id"]})).structured_content
        assert later is not None and later["video"]["url"] == done["video"]["url"]
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
            answer = await http.get(done["video"]["url"])
    assert answer.status_code == 200 and answer.content == Path(done["video"]["local_path"]).read_bytes()

"""Three `serve --http --stateless` peer processes on one PostgreSQL database and one fal (the sandbox over loopback):
calls raced on three peers make one job and keep the budget; a SIGKILLed tracker's job is finished by another."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.conftest import TEST_KEY, Fal
from tests.pgdb import fresh_url
from tests.test_http import TOKEN_A, Served, person, start_server

pytestmark = pytest.mark.anyio
TOOL = "pika_v2_turbo_text_to_video"  # $0.20 a video


async def start_peers(
    tmp_path: Path, fal: Fal, count: int = 3, flags: tuple[str, ...] = ("--stateless",), **env: str
) -> list[Served]:
    """`count` peers started side by side (each waits for its /healthz in a thread), `--stateless` unless told."""
    url = fresh_url()
    peers: list[Served] = []

    async def start(n: int) -> None:
        folder = tmp_path / f"peer{n}"
        folder.mkdir()
        peers.append(await anyio.to_thread.run_sync(lambda: start_server(
            folder, *flags, PIKA_MCP_BACKEND="fal", FAL_KEY=TEST_KEY, PIKA_MCP_QUEUE_URL=fal.url, PIKA_MCP_DATABASE_URL=url,
            PIKA_MCP_LEASE_SECONDS="5", PIKA_MCP_TOKEN=TOKEN_A, PIKA_MCP_OUTPUT_DIR=str(tmp_path / "videos"), **env)))  # fmt: skip

    async with anyio.create_task_group() as tg:
        for n in range(count):
            tg.start_soon(start, n)
    return peers


def stop(peers: list[Served]) -> None:
    for p in peers:
        if p.proc.poll() is None:
            p.proc.kill()
        p.proc.wait(20)


async def call_on(served: Served, tool: str, args: dict[str, Any]) -> Any:
    async with person(served.url, TOKEN_A) as client:
        return await client.call_tool(tool, args)


async def test_the_same_call_and_the_budget_raced_on_three_peers(tmp_path: Path, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds = 30  # nothing finishes meanwhile: every job stays live and counts
    peers = await start_peers(tmp_path, fal, PIKA_MCP_BUDGET_USD="0.5")
    try:
        same: list[Any] = []
        priced: list[Any] = []
        async with anyio.create_task_group() as tg:
            for p in peers:
                tg.start_soon(lambda p=p: _into(same, call_on(p, TOOL, {"prompt": "raced on three peers", "wait_seconds": 0})))
        made = [r.structured_content for r in same if not r.is_error]
        # One job, answered three times (an answer given before fal's reached the ledger names it by its local id).
        ids = {(await call_on(peers[1], "pika_get_job", {"job_id": m["job_id"]})).structured_content["job_id"] for m in made}
        assert len(made) == 3 and len(ids) == 1
        assert sorted(m["deduplicated"] for m in made) == [False, True, True]
        async with anyio.create_task_group() as tg:  # $0.30 left: one more of three
            for n, p in enumerate(peers):
                tg.start_soon(lambda p=p, n=n: _into(priced, call_on(p, TOOL, {"prompt": f"priced {n}", "wait_seconds": 0})))
        assert sum(not r.is_error for r in priced) == 1
        assert all("budget" in r.content[0].text.lower() for r in priced if r.is_error)
        listed = (await call_on(peers[2], "pika_list_jobs", {})).structured_content
        assert len(listed["jobs"]) == 2 and listed["spend_24h_usd"] == pytest.approx(0.4)
        assert len(fal.sent("submit")) == 2
    finally:
        stop(peers)


async def _into(results: list[Any], call: Any) -> None:
    results.append(await call)


async def test_sigkill_of_the_tracking_peer_and_another_finishes_the_job_with_the_video_saved(tmp_path: Path, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 3.0, 1.0
    peers = await start_peers(tmp_path, fal, count=2)
    try:
        made = (await call_on(peers[0], TOOL, {"prompt": "outlives its tracker", "wait_seconds": 0})).structured_content
        async with httpx2.AsyncClient() as http:
            health = [(await http.get(p.base + "/healthz")).json() for p in peers]
        assert [(h["status"], h["ledger"]) for h in health] == [("ok", "postgresql")] * 2
        first, second = (h["peer_id"] for h in health)
        assert made["status"] == "queued" and made["tracked_by"] == first != second
        peers[0].proc.send_signal(signal.SIGKILL)
        peers[0].proc.wait(20)
        final = (
            await call_on(peers[1], "pika_wait_for_job", {"job_id": made["job_id"], "timeout_seconds": 60})
        ).structured_content
        while final["status"] != "succeeded" and not final["error"]:  # a loaded machine: ask again, never forever
            final = (
                await call_on(peers[1], "pika_wait_for_job", {"job_id": made["job_id"], "timeout_seconds": 60})
            ).structured_content
        assert final["status"] == "succeeded", final
        assert Path(final["video"]["local_path"]).is_file()
    finally:
        stop(peers)

"""`serve --http --stateless` peer processes on one PostgreSQL database and one fal (the sandbox over loopback):
calls raced on three peers make one job and keep the budget; a SIGKILLed tracker's job is finished by another; a
peer restarted mid-job finishes it; a peer whose database stops answering says so in /healthz, and recovers."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import TEST_KEY, Fal
from tests.pgdb import fresh_url, own_database
from tests.test_http import TOKEN_A, TOKEN_B, Served, person, start_server, stop_server

pytestmark = pytest.mark.anyio
TOOL = "pika_v2_turbo_text_to_video"  # $0.20 a video


async def start_peers(
    tmp_path: Path, fal: Fal, count: int = 3, url: str | None = None, flags: tuple[str, ...] = ("--stateless",), **env: str
) -> list[Served]:
    """`count` peers started side by side (each waits for its /healthz in a thread), `--stateless` unless told, on a
    fresh ledger unless `url` names one; peer n's home is tmp_path/peerN, so a peer started there again is restarted."""
    url = url or fresh_url()
    peers: list[Served] = []

    async def start(n: int) -> None:
        folder = tmp_path / f"peer{n}"
        folder.mkdir(exist_ok=True)
        peers.append(await anyio.to_thread.run_sync(lambda: start_server(
            folder, *flags, PIKA_MCP_BACKEND="fal", FAL_KEY=TEST_KEY, PIKA_MCP_QUEUE_URL=fal.url, PIKA_MCP_DATABASE_URL=url,
            PIKA_MCP_LEASE_SECONDS="5", PIKA_MCP_OUTPUT_DIR=str(tmp_path / "videos"), **({"PIKA_MCP_TOKEN": TOKEN_A} | env))))  # fmt: skip

    async with anyio.create_task_group() as tg:
        for n in range(count):
            tg.start_soon(start, n)
    return peers


def stop(peers: list[Served]) -> None:
    for p in peers:
        if p.proc.poll() is None:
            p.proc.kill()
        p.proc.wait(20)


async def call_on(served: Served, tool: str, args: dict[str, Any], token: str = TOKEN_A) -> Any:
    async with person(served.url, token) as client:
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


async def wait_until_final(served: Served, job_id: str) -> dict[str, Any]:
    """The job's view once it is final: a loaded machine may need more than one wait, but not forever."""
    with anyio.fail_after(300):
        while True:
            final = (await call_on(served, "pika_wait_for_job", {"job_id": job_id, "timeout_seconds": 60})).structured_content
            if final["status"] in ("succeeded", "failed", "cancelled"):
                return dict(final)


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
        final = await wait_until_final(peers[1], made["job_id"])
        assert final["status"] == "succeeded", final
        assert Path(final["video"]["local_path"]).is_file()
    finally:
        stop(peers)


async def test_a_peer_restarted_mid_job_finishes_it_without_submitting_it_again(tmp_path: Path, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 4.0, 1.0
    url = fresh_url()
    [first] = await start_peers(tmp_path, fal, count=1, url=url)
    try:
        made = (await call_on(first, TOOL, {"prompt": "outlives a restart", "wait_seconds": 0})).structured_content
        assert made["status"] == "queued" and made["tracked_by"]
        assert stop_server(first, signal.SIGTERM) == 0  # a rolling restart: the only peer goes, mid-job
    finally:
        stop([first])
    [again] = await start_peers(tmp_path, fal, count=1, url=url)  # the same home, the same database
    try:
        final = await wait_until_final(again, made["job_id"])
        assert final["status"] == "succeeded", final
        assert Path(final["video"]["local_path"]).is_file() and final["video"]["save_error"] is None
        assert final["tracked_by"] is None
        assert len(fal.sent("submit")) == 1  # followed to its end, never sent again
        listed = (await call_on(again, "pika_list_jobs", {})).structured_content
        assert [j["job_id"] for j in listed["jobs"]] == [made["job_id"]]
    finally:
        stop([again])


async def test_healthz_says_503_while_the_database_does_not_answer_and_200_once_it_does(tmp_path: Path, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 0.5, 0.5
    with own_database() as (url, admin):
        [peer] = await start_peers(tmp_path, fal, count=1, url=url)
        try:
            async with httpx2.AsyncClient(timeout=30) as http:

                async def health() -> tuple[int, dict[str, Any]]:
                    answer = await http.get(peer.base + "/healthz")
                    return answer.status_code, answer.json()

                code, body = await health()
                assert (code, body["status"], body["ledger"]) == (200, "ok", "postgresql")
                name = url.rsplit("/", 1)[1]
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')  # type: ignore[attr-defined]
                admin.execute(  # type: ignore[attr-defined]
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                )
                with anyio.fail_after(120):  # its pooled connections are gone and no new one is let in
                    while (answer := await health())[0] == 200:
                        await anyio.sleep(0.2)
                assert answer == (503, answer[1]) and answer[1]["status"] == "database unreachable", answer
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')  # type: ignore[attr-defined]
                with anyio.fail_after(120):
                    while (answer := await health())[0] != 200:
                        await anyio.sleep(0.2)
                assert answer[1]["status"] == "ok"
            made = (await call_on(peer, TOOL, {"prompt": "after the outage", "wait_seconds": 0})).structured_content
            final = await wait_until_final(peer, made["job_id"])
            assert final["status"] == "succeeded", final
        finally:
            stop([peer])


async def test_two_peoples_jobs_stay_their_own_across_peers(tmp_path: Path, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds = 30  # live throughout
    peers = await start_peers(tmp_path, fal, count=2, PIKA_MCP_TOKEN=f"{TOKEN_A}, {TOKEN_B}")
    try:
        same = {"prompt": "the same words, two people", "wait_seconds": 0}
        alices = (await call_on(peers[0], TOOL, same)).structured_content
        bobs = (await call_on(peers[1], TOOL, same, token=TOKEN_B)).structured_content
        assert not bobs["deduplicated"] and bobs["job_id"] != alices["job_id"]  # one person's call never answers another's
        for there in peers:  # on either peer, each sees their own job and never the other's
            for token, own, other in ((TOKEN_A, alices, bobs), (TOKEN_B, bobs, alices)):
                listed = (await call_on(there, "pika_list_jobs", {}, token=token)).structured_content
                assert [j["job_id"] for j in listed["jobs"]] == [own["job_id"]]
                assert listed["spend_24h_usd"] == pytest.approx(0.2)
                refused = await call_on(there, "pika_get_job", {"job_id": other["job_id"]}, token=token)
                assert refused.is_error and other["prompt"] not in refused.content[0].text
                async with person(there.url, token) as client:
                    with pytest.raises(MCPError):
                        await client.read_resource(other["resource_uri"])
                    assert other["job_id"] not in (await client.read_resource("pika://jobs")).contents[0].text
        assert len(fal.sent("submit")) == 2
    finally:
        stop(peers)


async def test_made_on_one_http_peer_waited_on_another_and_heard_on_a_third(tmp_path: Path, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 2.0, 1.0
    peers = await start_peers(tmp_path, fal)
    try:
        made = (await call_on(peers[0], TOOL, {"prompt": "three peers", "wait_seconds": 0})).structured_content
        statuses: list[str] = []
        heard = anyio.Event()
        async with person(peers[2].url, TOKEN_A) as third, anyio.create_task_group() as tg:
            listening = anyio.Event()

            async def listen() -> None:  # a 2026-era subscription on a stateless peer that does not track the job
                async with third.listen(resource_subscriptions=[made["resource_uri"]]) as sub:
                    listening.set()
                    async for _ in sub:
                        read = await third.read_resource(made["resource_uri"])
                        statuses.append(json.loads(read.contents[0].text)["status"])  # type: ignore[union-attr]
                        if statuses[-1] == "succeeded":
                            heard.set()
                            return

            tg.start_soon(listen)
            await listening.wait()
            final = await wait_until_final(peers[1], made["job_id"])
            with anyio.fail_after(60):
                await heard.wait()
        assert final["status"] == "succeeded" and Path(final["video"]["local_path"]).is_file()
        async with httpx2.AsyncClient() as http:
            trackers = {(await http.get(p.base + "/healthz")).json()["peer_id"] for p in peers}
        assert made["tracked_by"] in trackers and len(trackers) == 3
    finally:
        stop(peers)

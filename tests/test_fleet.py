"""Several peers on one PostgreSQL ledger and one fal: a job made on one is waited on and heard on the others,
tracked by exactly one, taken over when its tracker leaves; notifications survive a lost connection."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ResourceUpdatedNotification

from pika_mcp import fleet, runtime
from pika_mcp.doctor import check_ledger
from pika_mcp.errors import ConfigError
from pika_mcp.job import Job
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import Fal, make_settings
from tests.pgdb import fresh_url, pg_store

pytestmark = pytest.mark.anyio
LEASE = 5.0  # the shortest lease the settings accept


def peer(tmp_path: Path, fal: Fal, url: str, n: int) -> Settings:
    folder = tmp_path / f"peer{n}"
    folder.mkdir(exist_ok=True)
    return make_settings(folder, fal.url, database_url=url, lease_seconds=LEASE, output_dir=tmp_path / "out")


async def view(client: Client, uri: str) -> dict[str, Any]:
    return json.loads((await client.read_resource(uri)).contents[0].text)  # type: ignore[union-attr]


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed:mcp.shared.exceptions.MCPDeprecationWarning")
@pytest.mark.parametrize("era", ["2026", "2025"])
async def test_a_job_made_on_one_peer_is_waited_on_by_another_and_heard_by_a_third(tmp_path: Path, fal: Fal, era: str) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 0.5, 1.0
    url = fresh_url()
    servers = [build_server(peer(tmp_path, fal, url, n)) for n in range(3)]
    updated = anyio.Event()  # the 2025 era: resources/subscribe, then notifications/resources/updated on the session

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updated.set()

    third = Client(servers[2].mcp, mode="legacy", message_handler=on_message) if era == "2025" else Client(servers[2].mcp)
    async with Client(servers[0].mcp) as a, Client(servers[1].mcp) as b, third as c:
        made = (await a.call_tool("pika_v2_turbo_text_to_video", {"prompt": "a fleet", "wait_seconds": 0})).structured_content
        assert made is not None and made["tracked_by"] == (await servers[0].lifecycle.ready()).service.tracker_id
        heard = anyio.Event()
        async with anyio.create_task_group() as tg:
            listening = anyio.Event()

            async def listen() -> None:
                async with c.listen(resource_subscriptions=[made["resource_uri"]]) as sub:
                    listening.set()
                    async for _ in sub:
                        if (await view(c, made["resource_uri"]))["status"] == "succeeded":
                            heard.set()
                            return

            async def subscribe() -> None:
                nonlocal updated
                await c.subscribe_resource(made["resource_uri"])
                listening.set()
                while True:
                    await updated.wait()
                    updated = anyio.Event()
                    if (await view(c, made["resource_uri"]))["status"] == "succeeded":
                        heard.set()
                        return

            tg.start_soon(listen if era == "2026" else subscribe)
            await listening.wait()
            final = (await b.call_tool("pika_wait_for_job", {"job_id": made["job_id"], "timeout_seconds": 60})).structured_content
            with anyio.fail_after(30):
                await heard.wait()
        requests = [
            (await s.lifecycle.ready()).service.tracker.requests + (await s.lifecycle.ready()).service.tracker.streams
            for s in servers
        ]
    assert final is not None and final["status"] == "succeeded" and final["tracked_by"] is None
    assert Path(final["video"]["local_path"]).is_file()
    assert requests[0] > 0 and requests[1:] == [0, 0]  # followed at fal by its tracker alone


async def test_when_the_tracking_peer_leaves_another_finishes_the_job_with_the_video_saved(tmp_path: Path, fal: Fal) -> None:
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 2.0, 1.0
    url = fresh_url()
    first, second = (build_server(peer(tmp_path, fal, url, n)) for n in range(2))
    async with Client(second.mcp) as b:
        async with Client(first.mcp) as a:
            made = (
                await a.call_tool("pika_v2_turbo_text_to_video", {"prompt": "left behind", "wait_seconds": 0})
            ).structured_content
            assert made is not None and made["status"] == "queued"
            leaving = (await first.lifecycle.ready()).service.tracker_id
        final = (await b.call_tool("pika_wait_for_job", {"job_id": made["job_id"], "timeout_seconds": 60})).structured_content
        assert final is not None and final["status"] == "succeeded", final
        assert Path(final["video"]["local_path"]).is_file()
        store = (await second.lifecycle.ready()).service.ledger
        assert store.get(made["job_id"]).tracker == (await second.lifecycle.ready()).service.tracker_id != leaving
        assert [s for s, _, _ in store.history(store.get(made["job_id"]))].count("succeeded") == 1


async def test_a_peer_with_a_database_and_no_fal_refuses_to_start_an_embedded_sandbox(tmp_path: Path) -> None:
    env = {"PIKA_MCP_HOME": str(tmp_path / "home"), "PIKA_MCP_DATABASE_URL": "postgresql://pika@127.0.0.1:1/pika"}
    settings = Settings.from_env(env)
    with pytest.raises(ConfigError, match="PIKA_MCP_QUEUE_URL"):
        async with runtime.start(settings):
            pass
    assert not (tmp_path / "home" / "sandbox").exists()


def test_the_demo_leaves_the_database_alone(tmp_path: Path) -> None:
    import pika_mcp.demo as demo

    settings = Settings.from_env({"PIKA_MCP_HOME": str(tmp_path), "PIKA_MCP_DATABASE_URL": "postgresql://pika@127.0.0.1:1/pika"})
    seen: list[Settings] = []
    original = demo._demo

    async def record(chosen: Settings, out: Any) -> int:
        seen.append(chosen)
        return 0

    demo._demo = record  # type: ignore[assignment]
    try:
        demo.run_demo(settings)
    finally:
        demo._demo = original  # type: ignore[assignment]
    assert seen[0].database_url is None and seen[0].embedded_sandbox


def test_doctor_checks_the_database_connection_and_schema(tmp_path: Path) -> None:
    url = fresh_url()
    base = Settings.from_env({"PIKA_MCP_HOME": str(tmp_path)})
    ok = check_ledger(dataclasses.replace(base, database_url=url))
    assert ok.level == "ok" and "schema 1" in ok.text
    down = check_ledger(dataclasses.replace(base, database_url="postgresql://pika:hunter22@127.0.0.1:1/pika"))
    assert down.level == "FAIL" and "hunter22" not in down.text


class _Heard:
    """What listen_forever needs of a job service, recording what it was told."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.changed = anyio.Event()
        self.tracker = self

    def tracks(self, local_id: str) -> bool:
        return False

    async def heard(self, job: Job) -> None:
        self.jobs.append(job)
        self.changed.set()


async def test_a_change_made_while_the_notification_connection_was_down_is_read_again(tmp_path: Path) -> None:
    url = fresh_url()
    import psycopg

    from tests.test_pg_store import job

    writer, listener = pg_store(tmp_path / "w", url), pg_store(tmp_path / "l", url)
    writer.peer, listener.peer = "writer", "listener"
    service = _Heard()
    connections: list[Any] = []
    may_reconnect = anyio.Event()

    async def connect() -> Any:
        if connections:
            await may_reconnect.wait()
        connections.append(await psycopg.AsyncConnection.connect(url, autocommit=True))
        return connections[-1]

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(fleet.listen_forever, listener, service, connect)
            first = job(owner="fleet")
            writer.add(first)
            with anyio.fail_after(30):
                while not service.jobs:  # heard live once the LISTEN is in place
                    writer.update(first, note="are you listening?")
                    await anyio.sleep(0.05)
            with psycopg.connect(url, autocommit=True) as admin:  # the connection is cut
                admin.execute("SELECT pg_terminate_backend(%s)", (connections[0].info.backend_pid,))
            missed = job(owner="fleet", args_key="while-down")
            writer.add(missed)  # nobody listens: the listener waits to reconnect until this is written
            may_reconnect.set()
            with anyio.fail_after(30):
                while missed.local_id not in {j.local_id for j in service.jobs}:
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    finally:
        writer.close()
        listener.close()
    assert len(connections) == 2


async def test_a_peer_that_cannot_renew_its_lease_stops_tracking_and_comes_back_under_a_new_id(tmp_path: Path) -> None:
    store = pg_store(tmp_path)
    from pika_mcp.pgpeers import PgPeers  # the postgres extra: imported once the test knows it has a database

    class _CutOff(PgPeers):
        """Leases whose renewals fail once `cut` is set (the database unreachable from this peer)."""

        cut = False

        def renew_peer(self, peer: str, seconds: float) -> None:
            if self.cut:
                raise OSError("connection refused")
            super().renew_peer(peer, seconds)

    cut = _CutOff(store)  # type: ignore[arg-type]
    stopped = anyio.Event()
    try:
        with fleet.PeerLease(store, LEASE, peers=cut) as lease:  # type: ignore[arg-type]
            first = lease.tracker_id
            assert cut.peer_alive(first)
            cut.cut = True
            async with anyio.create_task_group() as tg:
                tg.start_soon(lease.renew_forever, stopped.set)
                with anyio.fail_after(60):
                    await stopped.wait()
                tg.cancel_scope.cancel()
            assert lease.tracker_id != first and store.peer == lease.tracker_id  # its old jobs are any dead peer's to adopt
    finally:
        store.close()


async def test_changes_heard_while_a_read_runs_are_read_next_in_one_query_each_job_once() -> None:
    """A burst on other peers: what piles up is read in one query, in the order heard, a job changed twice once; a
    database that fails a read keeps the jobs for the next try."""
    reads: list[list[str]] = []
    first_read, release = anyio.Event(), threading.Event()

    class _Store:
        def get_many(self, local_ids: list[str]) -> list[Job]:
            reads.append(local_ids)
            if len(reads) == 1:
                anyio.from_thread.run_sync(first_read.set)
                release.wait(60)
            if len(reads) == 2:
                raise OSError("the database went away")
            return [_job(local_id) for local_id in local_ids]

    service = _Heard()
    heard = fleet._Heard()
    async with anyio.create_task_group() as tg:
        tg.start_soon(fleet._read_forever, _Store(), service, heard)
        heard.add("first")
        await first_read.wait()  # the first read is under way; a burst arrives meanwhile
        for n in [*range(200), 5, 7]:
            heard.add(f"job{n}")
        release.set()
        with anyio.fail_after(60):
            while len(service.jobs) < 201:
                await service.changed.wait()
                service.changed = anyio.Event()
        tg.cancel_scope.cancel()
    burst = [f"job{n}" for n in range(200)]
    assert reads == [["first"], burst, burst]  # one query for the burst; failed once, read again whole
    assert [j.local_id for j in service.jobs] == ["first", *burst]


def _job(local_id: str) -> Job:
    from tests.test_pg_store import job

    return dataclasses.replace(job(owner="fleet"), local_id=local_id)

"""The sandbox forgets old work on request: finished jobs, their videos and stored files past a cut-off, nothing newer,
nothing unfinished, and nothing at all in a dry run."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from pika_mcp.sandbox import Sandbox, SandboxConfig, prune_sandbox, serve_sandbox
from pika_mcp.sandbox.preview import PREVIEW_PATH, copy_preview

pytestmark = pytest.mark.anyio

DAY = 86_400.0
KEY = {"Authorization": "Key test-key"}
T2V = "/fal-ai/pika/v2.2/text-to-video"


@dataclass
class Work:
    """A sandbox with work from ten days ago and from today: its clock is moved, file times are set to match."""

    sandbox: Sandbox
    http: httpx2.AsyncClient
    now: float
    old_job: dict[str, Any]
    unfinished_job: dict[str, Any]
    new_job: dict[str, Any]
    old_upload: str
    new_upload: str

    def stored(self, url: str) -> Path:
        return self.sandbox.state_dir / ("files/" + url.split("/files/", 1)[1])

    async def answers(self, url: str) -> int:
        return (await self.http.get(url, headers=KEY)).status_code


async def finished(http: httpx2.AsyncClient, job: dict[str, Any]) -> dict[str, Any]:
    with anyio.fail_after(30):  # guards against a hang only
        while (await http.get(job["status_url"], headers=KEY)).json()["status"] != "COMPLETED":
            await anyio.sleep(0.02)
    return dict((await http.get(job["response_url"], headers=KEY)).json())


async def upload(http: httpx2.AsyncClient, data: bytes) -> str:
    token = (await http.post("/storage/auth/token", json={}, headers=KEY)).json()["token"]
    answer = await http.post(
        "/files/upload", content=data, headers={"Authorization": f"Bearer {token}", "X-Fal-File-Name": "a.png"}
    )
    return str(answer.json()["access_url"])


@pytest.fixture
async def work(tmp_path: Path) -> AsyncIterator[Work]:
    now = time.time()
    clock = [now - 10 * DAY]
    sandbox = Sandbox(
        tmp_path / "sandbox", SandboxConfig(queue_seconds=0, run_seconds=0), clock=lambda: clock[0], renderer=copy_preview
    )
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base, timeout=60) as http:
        old_job = (await http.post(T2V, json={"prompt": "old"}, headers=KEY)).json()
        await finished(http, old_job)
        old_upload = await upload(http, b"old picture")
        sandbox.config.queue_seconds = 20 * DAY  # submitted ten days ago, still queued
        unfinished_job = (await http.post(T2V, json={"prompt": "unfinished"}, headers=KEY)).json()
        sandbox.config.queue_seconds = 0
        clock[0] = now
        new_job = (await http.post(T2V, json={"prompt": "new"}, headers=KEY)).json()
        await finished(http, new_job)
        new_upload = await upload(http, b"new picture")
        w = Work(sandbox, http, now, old_job, unfinished_job, new_job, old_upload, new_upload)
        os.utime(w.stored(old_upload), (now - 10 * DAY, now - 10 * DAY))
        yield w
    sandbox.close()


async def test_a_prune_removes_finished_jobs_and_files_past_the_cut_off_and_keeps_the_rest(work: Work) -> None:
    old_video = (await work.http.get(work.old_job["response_url"], headers=KEY)).json()["video"]["url"]
    new_video = (await work.http.get(work.new_job["response_url"], headers=KEY)).json()["video"]["url"]
    old_files = {work.stored(old_video), work.stored(work.old_upload)}

    pruned = await anyio.to_thread.run_sync(lambda: prune_sandbox(work.sandbox.state_dir, 7 * DAY, now=work.now))

    assert pruned.jobs == [work.old_job["request_id"]]
    assert {work.sandbox.state_dir / f for f in pruned.files} == old_files
    assert pruned.freed_bytes == len(b"old picture") + PREVIEW_PATH.stat().st_size
    assert pruned.in_use == [] and not any(p.exists() for p in old_files)
    assert await work.answers(work.old_job["status_url"]) == 404
    assert await work.answers(old_video) == await work.answers(work.old_upload) == 404
    assert await work.answers(work.unfinished_job["status_url"]) == 202
    assert (
        await work.answers(work.new_job["response_url"])
        == await work.answers(new_video)
        == await work.answers(work.new_upload)
        == 200
    )
    assert work.sandbox.job_ids() == [work.unfinished_job["request_id"], work.new_job["request_id"]]


async def test_a_dry_run_says_what_it_would_remove_and_removes_nothing(work: Work) -> None:
    files_before = sorted(p for p in (work.sandbox.state_dir / "files").rglob("*"))

    would = await anyio.to_thread.run_sync(lambda: prune_sandbox(work.sandbox.state_dir, 7 * DAY, dry_run=True, now=work.now))
    did = await anyio.to_thread.run_sync(lambda: prune_sandbox(work.sandbox.state_dir, 7 * DAY, now=work.now))

    assert would == did and would.jobs == [work.old_job["request_id"]] and len(would.files) == 2
    assert files_before != sorted(p for p in (work.sandbox.state_dir / "files").rglob("*"))


async def test_a_video_held_open_on_windows_keeps_its_job_for_the_next_prune(work: Work, monkeypatch: pytest.MonkeyPatch) -> None:
    old_video = work.stored((await work.http.get(work.old_job["response_url"], headers=KEY)).json()["video"]["url"])
    real = os.remove

    def remove(path: Any) -> None:
        if Path(path) == old_video:
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        real(path)

    monkeypatch.setattr(os, "remove", remove)
    pruned = await anyio.to_thread.run_sync(lambda: prune_sandbox(work.sandbox.state_dir, 7 * DAY, now=work.now))
    monkeypatch.undo()

    assert pruned.jobs == [] and pruned.in_use == [old_video.relative_to(work.sandbox.state_dir).as_posix()]
    assert not work.stored(work.old_upload).exists() and await work.answers(work.old_job["response_url"]) == 200
    again = await anyio.to_thread.run_sync(lambda: prune_sandbox(work.sandbox.state_dir, 7 * DAY, now=work.now))
    assert again.jobs == [work.old_job["request_id"]] and not old_video.exists()


def test_a_prune_of_a_folder_where_no_sandbox_ran_finds_nothing_and_creates_nothing(tmp_path: Path) -> None:
    pruned = prune_sandbox(tmp_path / "sandbox", 0)
    assert (pruned.jobs, pruned.files, pruned.freed_bytes) == ([], [], 0)
    assert not (tmp_path / "sandbox").exists()

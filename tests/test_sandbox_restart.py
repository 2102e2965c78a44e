"""A sandbox restarted on the same state dir keeps its jobs and files, like fal, on its new address."""

import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from pika_mcp.sandbox import Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox.preview import copy_preview

pytestmark = pytest.mark.anyio

T2V = "/fal-ai/pika/v2.2/text-to-video"
KEY = {"Authorization": "Key test-key"}


async def wait_completed(client: httpx2.AsyncClient, status_url: str) -> None:
    with anyio.fail_after(10):
        async with client.stream("GET", f"{status_url}/stream") as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["status"] == "COMPLETED":
                    return


async def test_restart_keeps_jobs_and_files_and_rebases_their_urls(tmp_path: Path) -> None:
    fast = SandboxConfig(queue_seconds=0, run_seconds=0)
    first = Sandbox(tmp_path, fast, renderer=copy_preview)
    async with serve_sandbox(first) as old_base, httpx2.AsyncClient(headers=KEY) as client:
        done: dict[str, Any] = (await client.post(f"{old_base}{T2V}", json={"prompt": "a"})).json()
        await wait_completed(client, done["status_url"])
        token = (await client.post(f"{old_base}/storage/auth/token", json={})).json()
        upload = await client.post(
            f"{old_base}/files/upload",
            content=b"picture",
            headers={"Authorization": f"Bearer {token['token']}", "Content-Type": "image/png"},
        )
        first.config.queue_seconds = 0.2
        pending = (await client.post(f"{old_base}{T2V}", json={"prompt": "b"})).json()
    first.close()

    second = Sandbox(tmp_path, SandboxConfig(), renderer=copy_preview)
    async with serve_sandbox(second) as new_base, httpx2.AsyncClient(headers=KEY) as client:
        assert new_base != old_base
        status = await client.get(done["status_url"].replace(old_base, new_base))
        result = await client.get(done["response_url"].replace(old_base, new_base))
        video_url = result.json()["video"]["url"]
        video = await client.get(video_url)
        picture = await client.get(upload.json()["access_url"].replace(old_base, new_base))
        await wait_completed(client, pending["status_url"].replace(old_base, new_base))
        resumed = await client.get(pending["response_url"].replace(old_base, new_base))
    second.close()

    assert status.status_code == 200
    assert status.json()["response_url"] == done["response_url"].replace(old_base, new_base)
    assert video_url.startswith(f"{new_base}/files/") and video.content[4:8] == b"ftyp"
    assert picture.content == b"picture" and picture.headers["content-type"] == "image/png"
    assert resumed.status_code == 200, "a job unfinished at shutdown is rendered after restart"

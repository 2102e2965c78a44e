"""On Windows a file another program holds open cannot be replaced (PermissionError): the sandbox tries again, so an
upload or a render that lands on a file being served still completes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from pika_mcp.sandbox import Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox.preview import PREVIEW_PATH, copy_preview

pytestmark = pytest.mark.anyio

KEY = {"Authorization": "Key test-key"}
IN_USE = "The process cannot access the file because it is being used by another process"


@pytest.fixture
def in_use_once(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`os.replace` as Windows answers while another program has the target open: refused once for each target."""
    real = os.replace
    refused: list[str] = []

    def replace(source: Any, target: Any, **options: Any) -> None:
        if os.fspath(target) not in refused:
            refused.append(os.fspath(target))
            raise PermissionError(13, IN_USE, os.fspath(target))
        real(source, target, **options)

    monkeypatch.setattr(os, "replace", replace)
    return refused


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    sandbox = Sandbox(tmp_path / "sandbox", SandboxConfig(queue_seconds=0, run_seconds=0), renderer=copy_preview)
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base, timeout=60) as http:
        yield http
    sandbox.close()


async def bearer(client: httpx2.AsyncClient) -> dict[str, str]:
    token = (await client.post("/storage/auth/token", json={}, headers=KEY)).json()["token"]
    return {"Authorization": f"Bearer {token}"}


async def test_an_upload_whose_file_is_in_use_is_stored_once_it_is_free(
    client: httpx2.AsyncClient, in_use_once: list[str]
) -> None:
    answer = await client.post("/files/upload", content=b"picture", headers=await bearer(client) | {"X-Fal-File-Name": "a.png"})
    assert answer.status_code == 200, answer.text
    assert (await client.get(answer.json()["access_url"])).content == b"picture"
    assert [Path(p).name for p in in_use_once] == ["a.png"]


async def test_a_multipart_upload_joined_onto_a_file_in_use_is_joined_once_it_is_free(
    client: httpx2.AsyncClient, in_use_once: list[str]
) -> None:
    auth = await bearer(client)
    created = (await client.post("/files/upload/multipart", headers=auth | {"X-Fal-File-Name": "clip.mp4"})).json()
    access_url, upload_id = created["access_url"], created["uploadId"]
    parts = []
    for number, data in ((1, b"first "), (2, b"second")):
        put = await client.put(f"{access_url}/multipart/{upload_id}/{number}", content=data, headers=auth)
        parts.append({"partNumber": number, "etag": put.headers["etag"]})
    done = await client.post(f"{access_url}/multipart/{upload_id}/complete", json={"parts": parts}, headers=auth)
    assert done.status_code == 200, done.text
    assert (await client.get(access_url)).content == b"first second"
    assert "clip.mp4" in [Path(p).name for p in in_use_once]


async def test_a_video_rendered_onto_a_file_in_use_is_saved_once_it_is_free(
    client: httpx2.AsyncClient, in_use_once: list[str]
) -> None:
    job = (await client.post("/fal-ai/pika/v2.2/text-to-video", json={"prompt": "a cat"}, headers=KEY)).json()
    with anyio.fail_after(30):  # guards against a hang only
        while (status := await client.get(job["status_url"], headers=KEY)).json()["status"] != "COMPLETED":
            await anyio.sleep(0.05)
    result = await client.get(job["response_url"], headers=KEY)
    assert status.status_code == 200 and result.status_code == 200, result.text
    assert (await client.get(result.json()["video"]["url"])).content == PREVIEW_PATH.read_bytes()
    assert [Path(p).name for p in in_use_once] == ["output.mp4"]

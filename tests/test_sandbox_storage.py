"""The sandbox speaks fal's storage protocol: token, single and multipart uploads, files served back."""

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from pika_mcp.sandbox import Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox.preview import copy_preview

pytestmark = pytest.mark.anyio

KEY = {"Authorization": "Key test-key"}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Sandbox, httpx2.AsyncClient]]:
    sandbox = Sandbox(tmp_path / "sandbox", SandboxConfig(), renderer=copy_preview)
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base) as client:
        yield sandbox, client
    sandbox.close()


async def bearer(client: httpx2.AsyncClient) -> tuple[dict[str, str], str]:
    response = await client.post("/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={}, headers=KEY)
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer" and token["expires_at"].endswith("+00:00")
    return {"Authorization": f"Bearer {token['token']}"}, token["base_url"]


async def test_token_answers_this_sandbox_as_the_upload_base_url(
    served: tuple[Sandbox, httpx2.AsyncClient],
) -> None:
    _sandbox, client = served

    _, base_url = await bearer(client)
    refused = await client.post("/storage/auth/token", json={})

    assert base_url == str(client.base_url).rstrip("/")
    assert refused.status_code == 401


async def test_single_upload_round_trips_the_same_bytes_with_its_content_type(
    served: tuple[Sandbox, httpx2.AsyncClient],
) -> None:
    _sandbox, client = served
    auth, base_url = await bearer(client)
    data = os.urandom(200_000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 65_536):
            yield data[start : start + 65_536]

    headers = {**auth, "Content-Type": "image/png", "X-Fal-File-Name": "my cat.png"}
    response = await client.post(f"{base_url}/files/upload", content=chunks(), headers=headers)

    assert response.status_code == 200
    url = response.json()["access_url"]
    assert url.startswith(f"{base_url}/files/") and url.endswith("/my_cat.png")
    served_back = await client.get(url)
    assert served_back.content == data
    assert served_back.headers["content-type"] == "image/png"
    assert served_back.headers["content-length"] == str(len(data))
    ranged = await client.get(url, headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == data[10:20]


async def test_upload_without_a_valid_storage_token_is_refused(
    served: tuple[Sandbox, httpx2.AsyncClient],
) -> None:
    _sandbox, client = served

    with_key = await client.post("/files/upload", content=b"x", headers=KEY)
    with_bad_token = await client.post("/files/upload", content=b"x", headers={"Authorization": "Bearer nope"})

    assert with_key.status_code == with_bad_token.status_code == 401


async def test_multipart_upload_joins_parts_in_order(
    served: tuple[Sandbox, httpx2.AsyncClient],
) -> None:
    _sandbox, client = served
    auth, base_url = await bearer(client)
    parts = [os.urandom(1000), os.urandom(1000), os.urandom(10)]
    created = await client.post(
        f"{base_url}/files/upload/multipart",
        headers={**auth, "Content-Type": "video/mp4", "X-Fal-File-Name": "clip.mp4"},
    )
    access_url, upload_id = created.json()["access_url"], created.json()["uploadId"]

    etags = []
    for number in (3, 1, 2):  # fal_client uploads parts concurrently, in any order
        put = await client.put(f"{access_url}/multipart/{upload_id}/{number}", content=parts[number - 1], headers=auth)
        assert put.status_code == 200
        etags.append({"partNumber": number, "etag": put.headers["etag"]})
    done = await client.post(f"{access_url}/multipart/{upload_id}/complete", json={"parts": etags}, headers=auth)

    assert done.status_code == 200 and done.json() == {"access_url": access_url}
    served_back = await client.get(access_url)
    assert served_back.content == b"".join(parts)
    assert served_back.headers["content-type"] == "video/mp4"


async def test_js_style_initiate_then_put_stores_the_file(
    served: tuple[Sandbox, httpx2.AsyncClient],
) -> None:
    _sandbox, client = served
    initiated = await client.post(
        "/storage/upload/initiate",
        params={"storage_type": "fal-cdn-v3"},
        json={"content_type": "image/jpeg", "file_name": "photo.jpg"},
        headers=KEY,
    )
    urls = initiated.json()

    put = await client.put(urls["upload_url"], content=b"jpeg bytes", headers={"Content-Type": "image/jpeg"})

    assert put.status_code == 200
    served_back = await client.get(urls["file_url"])
    assert served_back.content == b"jpeg bytes"
    assert served_back.headers["content-type"] == "image/jpeg"
    assert (await client.put(urls["upload_url"], content=b"again")).status_code == 404


async def test_missing_files_and_paths_outside_the_store_answer_404(
    served: tuple[Sandbox, httpx2.AsyncClient],
) -> None:
    sandbox, client = served
    (sandbox.state_dir / "secret.txt").write_text("no")

    assert (await client.get("/files/nothing/here.png")).status_code == 404
    assert (await client.get("/files/%2e%2e/secret.txt")).status_code == 404
    assert (await client.get("/files/../sandbox.sqlite3")).status_code == 404


async def test_a_wrong_etag_is_refused_and_a_completion_cut_short_by_a_crash_is_joined_on_restart(tmp_path: Path) -> None:
    from pika_mcp.sandbox.files import JOIN_PLAN, FileStore

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        yield data

    files = FileStore(tmp_path / "state")
    parts = [os.urandom(3000), os.urandom(20)]
    etags = [await files.write_part("up1", n, chunks(data)) for n, data in enumerate(parts, 1)]
    with pytest.raises(ValueError, match="ETag"):
        files.complete("up1", "files/tok/clip.mp4", [(1, etags[1]), (2, etags[1])])
    # The plan a completion writes before its background join, as a process killed just then leaves it:
    plan = {"relative": "files/tok/clip.mp4", "parts": [[1, etags[0]], [2, etags[1]]]}
    (tmp_path / "state" / "parts" / "up1" / JOIN_PLAN).write_text(json.dumps(plan))

    restarted = FileStore(tmp_path / "state")
    restarted.close()
    assert (tmp_path / "state" / "files" / "tok" / "clip.mp4").read_bytes() == b"".join(parts)
    assert not (tmp_path / "state" / "parts" / "up1").exists()

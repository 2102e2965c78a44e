"""fal's own Python client (fal_client 1.0.3) cannot tell the sandbox from fal."""

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import fal_client
import fal_client.client
import httpx  # fal_client's own HTTP library, only to close what it opens
import httpx2
import pytest
from PIL import Image

from pika_mcp.sandbox import Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox.preview import copy_preview
from pika_mcp.sandbox.record import fingerprint

pytestmark = pytest.mark.anyio

ENDPOINT = "fal-ai/pika/v2.2/text-to-video"


class ClosingSyncClient(fal_client.SyncClient):
    """fal_client 1.0.3 never closes its HTTP clients (one per upload); this one does, so the
    suite's ResourceWarning check stays on for everything else."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[httpx.Client] = []

    def _get_cdn_client(self) -> httpx.Client:
        cdn = super()._get_cdn_client()
        self.opened.append(cdn)
        return cdn

    def close(self) -> None:
        for opened in [*self.opened, self._client]:
            opened.close()


@pytest.fixture
def client(fal: tuple[Sandbox, str]) -> Iterator[ClosingSyncClient]:
    made = ClosingSyncClient()
    yield made
    made.close()


@pytest.fixture
async def fal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Sandbox, str]]:
    config = SandboxConfig(queue_seconds=0.05, run_seconds=0.1)
    sandbox = Sandbox(tmp_path / "sandbox", config, renderer=copy_preview)
    async with serve_sandbox(sandbox) as base:
        # The three host constants fal's docs name; fal_client forces https on fal's own hosts.
        monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", base + "/")
        monkeypatch.setattr(fal_client.client, "REST_URL", base)
        monkeypatch.setattr(fal_client.client, "CDN_URL", base)
        monkeypatch.setenv("FAL_KEY", "sandbox-key")
        yield sandbox, base
    sandbox.close()


async def test_fal_client_submits_polls_fetches_the_result_and_cancels(
    fal: tuple[Sandbox, str], client: ClosingSyncClient
) -> None:
    sandbox, _base = fal

    def run() -> tuple[object, object, dict[str, object], int, bool]:
        handle = client.submit(ENDPOINT, {"prompt": "a cat surfing", "duration": 5})
        first = handle.status(with_logs=True)
        result = handle.get()
        with pytest.raises(fal_client.client.FalClientHTTPError) as finished:
            handle.cancel()
        queued = client.submit(ENDPOINT, {"prompt": "a dog"})
        queued.cancel()
        with pytest.raises(fal_client.client.FalClientHTTPError) as cancelled:
            client.result(ENDPOINT, queued.request_id)
        last = handle.status(with_logs=True)
        return (
            first,
            last,
            result,
            finished.value.status_code,
            cancelled.value.error_type == "client_cancelled",
        )

    with anyio.fail_after(20):
        first, last, result, finished_code, cancelled_ok = await anyio.to_thread.run_sync(run)

    assert isinstance(first, (fal_client.Queued, fal_client.InProgress))
    assert isinstance(last, fal_client.Completed) and last.logs and "inference_time" in last.metrics
    video = result["video"]
    assert isinstance(video, dict) and video["content_type"] == "video/mp4"
    assert finished_code == 400 and cancelled_ok
    async with httpx2.AsyncClient() as http:
        assert (await http.get(video["url"])).content[4:8] == b"ftyp"
    submit = next(r for r in sandbox.received if r.op == "submit")
    assert submit.headers["authorization"] == fingerprint("Key sandbox-key")
    assert submit.headers["user-agent"].startswith("fal-client/")
    assert submit.json == {"prompt": "a cat surfing", "duration": 5}
    assert {r.query.get("logs") for r in sandbox.received if r.op == "status"} <= {"true", "false"}


async def test_fal_client_upload_file_returns_a_url_serving_the_same_bytes(
    fal: tuple[Sandbox, str], client: ClosingSyncClient, tmp_path: Path
) -> None:
    sandbox, base = fal
    picture = tmp_path / "dot.png"
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(buffer, format="PNG")
    picture.write_bytes(buffer.getvalue())

    with anyio.fail_after(20):
        url = await anyio.to_thread.run_sync(client.upload_file, picture)

    assert url.startswith(f"{base}/files/") and url.endswith("/dot.png")
    async with httpx2.AsyncClient() as http:
        served = await http.get(url)
    assert served.content == picture.read_bytes()
    assert served.headers["content-type"] == "image/png"
    assert [r.op for r in sandbox.received] == ["token", "upload", "download"]
    assert sandbox.received[1].headers["authorization"].startswith("Bearer ")

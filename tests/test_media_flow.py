"""A finished job's video is saved locally, measured by decoding, with a poster in the result and as a resource."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from mcp import Client
from mcp_types import BlobResourceContents

from pika_mcp import media
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import Fal, final

pytestmark = [pytest.mark.anyio, pytest.mark.render]
pytest.importorskip("av")

ASSETS = Path(__file__).resolve().parent.parent / "pika_mcp" / "assets"


async def test_finished_job_has_its_video_on_disk_with_true_dimensions_and_a_poster(settings: Settings, fal: Fal) -> None:
    image = Path(settings.allowed_dirs[0]) / "fox.png"  # type: ignore[index]
    image.write_bytes((ASSETS / "fox.png").read_bytes())
    args = {"image_url": str(image), "prompt": "the fox waves", "duration": 5, "wait_seconds": 120}
    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool("pika_v22_image_to_video", args)
        job = result.structured_content
        job = await final(client, job["job_id"])
        got = await client.call_tool("pika_get_job", {"job_id": job["job_id"]})
        poster = await client.read_resource(f"pika://jobs/{job['job_id']}/poster")
    video = got.structured_content["video"]
    path = Path(video["local_path"])
    assert path.parent == settings.output_dir and path.name.endswith(f"_{job['job_id'][:8]}.mp4")
    assert "image_to_video_the-fox-waves" in path.name
    info = media.probe(path)
    assert info is not None and (info.width, info.height) == (video["width"], video["height"]) == (720, 720)
    assert video["duration_s"] == pytest.approx(5.0, abs=0.05) and video["fps"] == 24
    images = [c for c in got.content if c.type == "image"]
    assert len(images) == 1 and images[0].mime_type == "image/jpeg"
    jpeg = base64.b64decode(images[0].data)
    assert len(jpeg) <= 65_536 and jpeg[:3] == b"\xff\xd8\xff"
    from PIL import Image

    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
    [blob] = poster.contents
    assert isinstance(blob, BlobResourceContents) and base64.b64decode(blob.blob) == jpeg
    [upload] = fal.sent("upload")  # the PNG given by path went to fal's storage once
    [submit] = fal.sent("submit")
    assert submit.json["image_url"].startswith(fal.url + "/files/")


async def test_finished_video_can_be_fed_back_as_an_input_by_its_path(settings: Settings, fal: Fal) -> None:
    async with Client(build_server(settings).mcp) as client:
        job = (
            await client.call_tool("pika_v2_turbo_text_to_video", {"prompt": "source clip", "duration": 1, "wait_seconds": 120})
        ).structured_content
        job = await final(client, job["job_id"])
        edit = await client.call_tool(
            "pika_v2_pikaswaps", {"video_url": job["video"]["local_path"], "modify_region": "the sky", "wait_seconds": 0}
        )
    assert not edit.is_error, edit.content
    [submit] = [r for r in fal.sent("submit") if r.path.endswith("pikaswaps")]
    assert submit.json["video_url"].startswith(fal.url + "/files/")

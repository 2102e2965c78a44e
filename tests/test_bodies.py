"""Each generation tool sends exactly the body fal expects, to exactly the right path, with the key header."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from pika_mcp.sandbox.record import fingerprint
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import TEST_KEY, Fal

pytestmark = pytest.mark.anyio

IMG = "https://example.com/cat.png"
VID = "https://example.com/clip.mp4"

CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("pika_v22_text_to_video", {"prompt": "a cat surfing"}, "/fal-ai/pika/v2.2/text-to-video",
     {"prompt": "a cat surfing", "negative_prompt": "ugly, bad, terrible", "aspect_ratio": "16:9", "resolution": "720p", "duration": 5}),
    ("pika_v22_text_to_video", {"prompt": "x", "duration": 10, "resolution": "1080p", "aspect_ratio": "9:16", "seed": 7},
     "/fal-ai/pika/v2.2/text-to-video",
     {"prompt": "x", "negative_prompt": "ugly, bad, terrible", "aspect_ratio": "9:16", "resolution": "1080p", "duration": 10, "seed": 7}),
    ("pika_v22_image_to_video", {"image_url": IMG, "prompt": "wave"}, "/fal-ai/pika/v2.2/image-to-video",
     {"image_url": IMG, "prompt": "wave", "negative_prompt": "", "resolution": "720p", "duration": 5}),
    ("pika_v22_pikascenes", {"image_urls": [IMG, IMG + "?2"], "prompt": "together"}, "/fal-ai/pika/v2.2/pikascenes",
     {"image_urls": [IMG, IMG + "?2"], "prompt": "together", "negative_prompt": "ugly, bad, terrible", "aspect_ratio": "16:9",
      "resolution": "1080p", "duration": 5, "ingredients_mode": "precise"}),
    ("pika_v22_pikascenes", {"images": [{"image_url": IMG}], "prompt": "legacy shape"}, "/fal-ai/pika/v2.2/pikascenes",
     {"image_urls": [IMG], "prompt": "legacy shape", "negative_prompt": "ugly, bad, terrible", "aspect_ratio": "16:9",
      "resolution": "1080p", "duration": 5, "ingredients_mode": "precise"}),
    ("pika_v22_pikaframes", {"image_urls": [IMG, IMG + "?2", IMG + "?3"], "transitions": [{"duration": 3, "prompt": "zoom"}, {"duration": 4}]},
     "/fal-ai/pika/v2.2/pikaframes",
     {"image_urls": [IMG, IMG + "?2", IMG + "?3"], "transitions": [{"duration": 3, "prompt": "zoom"}, {"duration": 4}],
      "negative_prompt": "", "resolution": "720p"}),
    ("pika_v21_text_to_video", {"prompt": "p"}, "/fal-ai/pika/v2.1/text-to-video",
     {"prompt": "p", "negative_prompt": "", "aspect_ratio": "16:9", "resolution": "720p", "duration": 5}),
    ("pika_v21_image_to_video", {"image_url": IMG, "prompt": "p"}, "/fal-ai/pika/v2.1/image-to-video",
     {"image_url": IMG, "prompt": "p", "negative_prompt": "", "resolution": "720p", "duration": 5}),
    ("pika_v2_turbo_text_to_video", {"prompt": "p", "seed": 1}, "/fal-ai/pika/v2/turbo/text-to-video",
     {"prompt": "p", "negative_prompt": "", "aspect_ratio": "16:9", "resolution": "720p", "duration": 5, "seed": 1}),
    ("pika_v2_turbo_image_to_video", {"image_url": IMG, "prompt": "p"}, "/fal-ai/pika/v2/turbo/image-to-video",
     {"image_url": IMG, "prompt": "p", "negative_prompt": "", "resolution": "720p", "duration": 5}),
    ("pika_v2_pikaswaps", {"video_url": VID, "modify_region": "the mug", "image_url": IMG}, "/fal-ai/pika/v2/pikaswaps",
     {"video_url": VID, "modify_region": "the mug", "image_url": IMG}),
    ("pika_v2_pikadditions", {"video_url": VID, "image_url": IMG, "prompt": "a dog joins"}, "/fal-ai/pika/v2/pikadditions",
     {"video_url": VID, "image_url": IMG, "prompt": "a dog joins"}),
    ("pika_v15_pikaffects", {"image_url": IMG, "pikaffect": "Melt"}, "/fal-ai/pika/v1.5/pikaffects",
     {"image_url": IMG, "pikaffect": "Melt"}),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "args", "path", "body"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_tool_sends_exact_body_to_exact_path(
    settings: Settings, fal: Fal, tool: str, args: dict, path: str, body: dict
) -> None:
    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool(tool, args | {"wait_seconds": 0})
    assert not result.is_error, result.content
    [submit] = fal.sent("submit")
    assert (submit.method, submit.path) == ("POST", path)
    assert submit.json == body
    assert submit.headers["authorization"] == fingerprint(f"Key {TEST_KEY}")
    assert result.structured_content["status"] in ("queued", "running")
    assert result.structured_content["endpoint_id"] == path[1:]

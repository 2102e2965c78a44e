"""Bad input never leaves the machine: isError results that name the field, zero requests to fal."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from mcp import Client
from pydantic import ValidationError

from pika_mcp.models import MAX_DATA_URI_BYTES, MAX_URL_CHARS, V22ImageToVideo, data_uri_size
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import Fal

pytestmark = pytest.mark.anyio

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("pika_v22_text_to_video", {}, "prompt: required"),
    ("pika_v22_text_to_video", {"prompt": "x", "duration": 7}, "duration: must be 5 or 10"),
    ("pika_v22_text_to_video", {"prompt": "x", "aspect_ratio": "4:3"}, "'16:9', '9:16'"),
    ("pika_v22_text_to_video", {"prompt": "x", "api_key": "sneaky"}, "api_key: unknown argument"),
    ("pika_v22_text_to_video", {"prompt": "x" * 2501}, "prompt: must be at most 2500 characters, got 2501"),
    ("pika_v22_text_to_video", {"prompt": "x", "duration": "10"}, 'duration: must be the number 5 or 10, not the string "10"'),
    ("pika_v21_text_to_video", {"prompt": "x", "seed": "7"}, 'seed: must be a whole number, not the string "7"'),
    ("pika_v22_text_to_video", {"prompt": "x", "seed": -1}, "seed"),
    ("pika_v22_text_to_video", {"prompt": "x", "wait_seconds": 601}, "wait_seconds"),
    ("pika_v22_text_to_video", {"prompt": "x", "force_new": "yes"}, "force_new"),
    ("pika_v22_text_to_video", {"prompt": "x", "resolution": None}, "resolution"),
    ("pika_v22_image_to_video", {"prompt": "x", "image_url": "cat.png"}, "relative paths are not accepted"),
    ("pika_v22_pikaframes", {"image_urls": ["https://a/1.png"]}, "image_urls: must have at least 2 items, got 1"),
    ("pika_v22_pikaframes", {"image_urls": ["https://a/1.png", "https://a/2.png"], "transitions": [{"duration": 5}, {"duration": 5}]},
     "one fewer"),
    ("pika_v22_pikaframes", {"image_urls": ["https://a/1.png"] * 4, "transitions": [{"duration": 10}] * 3}, "25 s"),
    ("pika_v22_pikascenes", {"image_urls": ["https://a/1.png"] * 11, "prompt": "x"}, "image_urls: Pikascenes combines at most 10 images, not 11"),
    ("pika_v15_pikaffects", {"image_url": "https://a/1.png", "pikaffect": "Vaporize"}, "pikaffect"),
    ("pika_v2_pikadditions", {"video_url": "https://a/v.mp4"}, "image_url: required"),
    ("pika_v22_image_to_video", {"prompt": "x", "image_url": "https://a.example/" + "x" * 8200}, "at most 8192 characters"),
    ("pika_v22_pikaframes", {"image_urls": ["https://a/1.png", "https://a/?" + "q" * 9000]}, "at most 8192 characters"),
    ("pika_v22_image_to_video", {"prompt": "x", "image_url": "data:image/png;base64," + "A" * 28_000_000}, "at most 20 MB"),
    ("pika_v22_image_to_video", {"prompt": "x", "image_url": "data:image/png," + "%41" * 1000 + "A" * 21_000_000}, "at most 20 MB"),
    ("pika_v22_image_to_video", {"prompt": "x", "image_url": "http://images.example/cat.png"}, "only https URLs"),
    ("pika_v22_image_to_video", {"prompt": "x", "image_url": "https://127.0.0.1:9/cat.png"}, "not a public address"),
    ("pika_v22_image_to_video", {"prompt": "x", "image_url": "https://localhost/cat.png"}, "localhost is this machine"),
    ("pika_v22_pikaframes", {"image_urls": ["https://a.example/1.png", "https://[fd00::1]/2.png"]}, "not a public address"),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "args", "says"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
async def test_invalid_arguments_are_refused_with_zero_requests(
    settings: Settings, fal: Fal, tool: str, args: dict, says: str
) -> None:
    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool(tool, args)
        listing = await client.call_tool("pika_list_jobs", {})
    assert result.is_error
    text = result.content[0].text
    assert says in text, text
    assert "nothing was sent" in text or "not" in text
    for jargon in ("should have", "after validation", "Input should", "String should", "List should"):  # Pydantic's own words
        assert jargon not in text, text
    assert len(re.findall(r"\bgot\b", text)) <= 1, text  # what came is quoted once
    assert fal.sandbox.received == []
    assert listing.structured_content["jobs"] == []


async def test_an_https_url_on_a_public_host_and_fals_own_origin_pass_as_media(settings: Settings, fal: Fal) -> None:
    async with Client(build_server(settings).mcp) as client:
        for url in ("https://images.example/cat.png", f"{fal.url}/files/anything.png"):  # the configured fal: http allowed
            result = await client.call_tool("pika_v22_image_to_video", {"prompt": "x", "image_url": url, "wait_seconds": 0})
            assert not result.is_error, result.content
    assert [r.json["image_url"] for r in fal.sent("submit")] == [
        "https://images.example/cat.png",
        f"{fal.url}/files/anything.png",
    ]


@pytest.mark.parametrize("tool", ["pika_get_job", "pika_wait_for_job", "pika_cancel_job"])
async def test_unknown_job_id_is_an_error_naming_the_id(settings: Settings, fal: Fal, tool: str) -> None:
    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool(tool, {"job_id": "no-such-job"})
    assert result.is_error
    assert "no-such-job" in result.content[0].text
    assert fal.sandbox.received == []


async def test_unknown_job_resource_is_a_protocol_error(settings: Settings) -> None:
    from mcp.shared.exceptions import MCPError

    async with Client(build_server(settings).mcp) as client:
        with pytest.raises(MCPError):
            await client.read_resource("pika://jobs/no-such-job")


async def test_job_tools_refuse_unknown_arguments(settings: Settings) -> None:
    async with Client(build_server(settings).mcp) as client:
        result = await client.call_tool("pika_list_jobs", {"limit": 5, "owner": "someone-else"})
    assert result.is_error and "owner" in result.content[0].text


PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"


@pytest.mark.parametrize("extra", [0, 1, 2])  # the three paddings of base64
def test_a_data_uri_is_bounded_by_its_decoded_size_exactly(extra: int) -> None:
    """20 MB decoded passes and one byte more is refused, judged from the length alone."""
    exact = PNG_HEAD + bytes(MAX_DATA_URI_BYTES - len(PNG_HEAD) - extra)
    for data, fits in ((exact, True), (exact + bytes(extra + 1), False)):
        uri = "data:image/png;base64," + base64.b64encode(data).decode()
        assert data_uri_size(uri) == len(data)
        if fits:
            V22ImageToVideo(image_url=uri, prompt="p")
        else:
            with pytest.raises(ValidationError, match="at most 20 MB"):
                V22ImageToVideo(image_url=uri, prompt="p")


def test_a_media_url_of_8192_characters_passes_and_one_more_is_refused() -> None:
    url = "https://media.example/"
    V22ImageToVideo(image_url=url + "x" * (MAX_URL_CHARS - len(url)), prompt="p")
    with pytest.raises(ValidationError, match="at most 8192 characters"):
        V22ImageToVideo(image_url=url + "x" * (MAX_URL_CHARS - len(url) + 1), prompt="p")

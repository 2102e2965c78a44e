"""The sandbox renders real H.264 previews: the requested size, length and frame rate, from its inputs, deterministic."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

av = pytest.importorskip("av")
from pika_mcp.sandbox.render import render_video  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent / "pika_mcp" / "assets"
FILES = {f"https://in/{p.name}": p.read_bytes() for p in ASSETS.glob("*.png")}


def fetch(url: str) -> bytes | None:
    return FILES.get(url)


def decoded(path: Path) -> tuple[str, int, int, float, int, float, list[str]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        hashes = [hashlib.sha256(bytes(frame.planes[0])).hexdigest() for frame in container.decode(stream)]
        duration = float(stream.duration * stream.time_base)
        return stream.codec_context.name, stream.codec_context.width, stream.codec_context.height, float(stream.average_rate), len(hashes), duration, hashes


CASES: list[tuple[str, dict[str, Any], tuple[int, int], int]] = [
    ("fal-ai/pika/v2.2/text-to-video", {"prompt": "a cat surfing", "aspect_ratio": "16:9", "resolution": "720p", "duration": 5}, (1280, 720), 5),
    ("fal-ai/pika/v2.1/text-to-video", {"prompt": "tall", "aspect_ratio": "9:16", "resolution": "720p", "duration": 2}, (720, 1280), 2),
    ("fal-ai/pika/v2/turbo/text-to-video", {"prompt": "square", "aspect_ratio": "1:1", "duration": 1}, (720, 720), 1),
    ("fal-ai/pika/v2.2/image-to-video", {"prompt": "wave", "image_url": "https://in/fox.png", "duration": 5}, (720, 720), 5),
    ("fal-ai/pika/v2.2/pikascenes", {"prompt": "together", "aspect_ratio": "4:5", "resolution": "720p", "duration": 5,
                                     "image_urls": ["https://in/fox.png", "https://in/forest.png", "https://in/boat.png"]}, (720, 900), 5),
    ("fal-ai/pika/v2.2/pikaframes", {"image_urls": ["https://in/fox.png", "https://in/boat.png"], "transitions": [{"duration": 2}]}, (720, 720), 2),
    ("fal-ai/pika/v1.5/pikaffects", {"image_url": "https://in/boat.png", "pikaffect": "Inflate"}, (720, 720), 5),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "body", "size", "seconds"), CASES, ids=[c[0].split("pika/")[1] for c in CASES])
def test_preview_has_the_requested_size_length_and_rate(tmp_path: Path, endpoint: str, body: dict, size: tuple[int, int], seconds: int) -> None:
    out = tmp_path / "out.mp4"
    render_video(endpoint, body, out, fetch)
    codec, width, height, fps, frames, duration, _ = decoded(out)
    assert codec == "h264"
    assert (width, height) == size
    assert fps == 24
    assert frames == seconds * 24
    assert duration == pytest.approx(seconds, abs=0.05)


def test_same_request_renders_the_same_frames_and_another_seed_does_not(tmp_path: Path) -> None:
    body = {"prompt": "same", "aspect_ratio": "16:9", "resolution": "720p", "duration": 1, "seed": 7}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        render_video("fal-ai/pika/v2.2/text-to-video", body | {"seed": seed}, tmp_path / f"{name}.mp4", fetch)
    a, b, c = (decoded(tmp_path / f"{n}.mp4")[-1] for n in "abc")
    assert a == b
    assert a != c


def test_swaps_and_additions_work_on_the_input_video(tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    render_video("fal-ai/pika/v2.2/text-to-video", {"prompt": "clip", "aspect_ratio": "16:9", "duration": 1}, source, fetch)
    FILES["https://in/clip.mp4"] = source.read_bytes()
    for endpoint, body in (
        ("fal-ai/pika/v2/pikaswaps", {"video_url": "https://in/clip.mp4", "image_url": "https://in/fox.png", "modify_region": "the sky"}),
        ("fal-ai/pika/v2/pikadditions", {"video_url": "https://in/clip.mp4", "image_url": "https://in/boat.png"}),
    ):
        out = tmp_path / "edit.mp4"
        render_video(endpoint, body, out, fetch)
        assert decoded(out)[1:5] == (1280, 720, 24.0, 120)


def test_inputs_that_cannot_be_fetched_or_decoded_get_a_placeholder(tmp_path: Path) -> None:
    garbage = {"https://in/broken.png": b"not an image at all"}
    out = tmp_path / "out.mp4"
    render_video("fal-ai/pika/v2.2/image-to-video", {"prompt": "p", "image_url": "https://in/broken.png", "duration": 5},
                 out, lambda url: garbage.get(url))  # fmt: skip
    render_video("fal-ai/pika/v2/pikadditions", {"video_url": "https://offline/v.mp4", "image_url": "https://offline/i.png"}, tmp_path / "b.mp4",
                 lambda url: None)  # fmt: skip
    assert decoded(out)[4] == 120
    assert decoded(tmp_path / "b.mp4")[4] == 120

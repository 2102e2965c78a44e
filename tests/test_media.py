"""Probe and poster read real videos by decoding them, and refuse anything else quietly, with or without the media extra."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from pika_mcp import media
from pika_mcp.outputs import POSTER_MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent
PREVIEW = ROOT / "pika_mcp" / "sandbox" / "assets" / "preview.mp4"
FOX = ROOT / "pika_mcp" / "assets" / "fox.png"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("av")
    from pika_mcp.sandbox.render import render_video

    out = tmp_path_factory.mktemp("media") / "tall.mp4"
    body = {"prompt": "a lantern swaying in the wind", "aspect_ratio": "9:16", "resolution": "720p", "duration": 2, "seed": 3}
    render_video("fal-ai/pika/v2.1/text-to-video", body, out, lambda url: None)
    return out


def test_probe_reads_duration_size_and_rate_of_a_rendered_video(rendered: Path) -> None:
    assert media.probe(rendered) == media.VideoInfo(duration_s=2.0, width=720, height=1280, fps=24.0)


def test_probe_reads_the_shipped_preview() -> None:
    pytest.importorskip("av")
    assert media.probe(PREVIEW) == media.VideoInfo(duration_s=1.0, width=1280, height=720, fps=24.0)


def test_poster_is_a_jpeg_of_at_most_64_kb_that_pillow_decodes(rendered: Path) -> None:
    from PIL import Image

    jpeg = media.poster(rendered, max_bytes=65_536)
    assert jpeg is not None and len(jpeg) <= 65_536
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    assert image.format == "JPEG"
    assert image.size == (360, 640)  # the 720x1280 frame, 640 px on its long side


def test_poster_shows_a_frame_from_inside_the_video_not_the_first(rendered: Path) -> None:
    import av
    from PIL import Image, ImageChops, ImageStat

    with av.open(str(rendered)) as container:
        frames = [f.to_image() for f in container.decode(video=0)]
    poster = Image.open(io.BytesIO(media.poster(rendered) or b"")).convert("RGB")

    def distance(frame: Image.Image) -> float:
        return sum(ImageStat.Stat(ImageChops.difference(frame.resize(poster.size), poster)).mean)

    nearest = min(range(len(frames)), key=lambda k: distance(frames[k]))
    assert len(frames) // 4 <= nearest <= len(frames) // 2


def test_a_tight_poster_budget_shrinks_the_poster_instead_of_failing(rendered: Path) -> None:
    jpeg = media.poster(rendered, max_bytes=4_000)
    assert jpeg is not None and len(jpeg) <= 4_000


def test_files_that_are_not_videos_give_none(tmp_path: Path) -> None:
    pytest.importorskip("av")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(PREVIEW.read_bytes()[:200])
    for path in (text, empty, truncated, FOX, tmp_path / "missing.mp4", tmp_path):
        assert media.probe(path) is None, path.name
        assert media.poster(path) is None, path.name


def test_without_the_media_extra_everything_imports_and_answers_none() -> None:
    script = (
        "import sys; sys.modules['av'] = None; sys.modules['PIL'] = None\n"
        "from pathlib import Path\n"
        "from pika_mcp import media, sniff\n"
        f"assert not media.available()\n"
        f"assert media.probe(Path({str(PREVIEW)!r})) is None and media.poster(Path({str(PREVIEW)!r})) is None\n"
        "assert sniff.sniff(b'%PDF-1.7') is None\n"
        "try:\n    import pika_mcp.sandbox.render\nexcept ImportError:\n    print('renderer refused')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "renderer refused"


def test_with_the_media_extra_it_says_so() -> None:
    pytest.importorskip("av")
    pytest.importorskip("PIL")
    assert media.available()


@pytest.mark.anyio
async def test_the_server_measures_in_one_long_lived_child_that_gives_the_same_facts(rendered: Path, tmp_path: Path) -> None:
    from pika_mcp.measurer import Measurer

    measurer = Measurer()
    try:
        info, jpeg = await measurer.measure(rendered, POSTER_MAX_BYTES)
        assert info == {"duration_s": 2.0, "width": 720, "height": 1280, "fps": 24.0}
        assert jpeg == media.poster(rendered)
        child = measurer._process
        garbage = tmp_path / "garbage.mp4"
        garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\xff" * 4096)
        assert await measurer.measure(garbage, POSTER_MAX_BYTES) == (None, None)
        assert await measurer.measure(rendered, POSTER_MAX_BYTES) == (info, jpeg)
        assert measurer._process is child and child is not None  # one child for every video: no start per save
    finally:
        await measurer.aclose()
    assert child.returncode is not None  # and it ends with the server


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in child is a shell script")
async def test_a_measuring_child_that_hangs_is_killed_and_costs_only_the_facts(tmp_path: Path) -> None:
    from pika_mcp.measurer import Measurer

    (tmp_path / "hang.sh").write_text("#!/bin/sh\nexec sleep 600\n")
    (tmp_path / "hang.sh").chmod(0o755)
    measurer = Measurer(timeout=0.5, command=[str(tmp_path / "hang.sh")])
    with anyio.fail_after(60):  # a guard against a hang, not a speed goal
        assert await measurer.measure(PREVIEW, POSTER_MAX_BYTES) == (None, None)
    assert measurer._process is None  # killed; the next video gets a new child
    await measurer.aclose()

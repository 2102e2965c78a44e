"""Probe and poster read real videos and refuse anything else quietly."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pika_mcp import media

pytest.importorskip("av")
PREVIEW = Path(__file__).resolve().parent.parent / "pika_mcp" / "sandbox" / "assets" / "preview.mp4"


def test_probe_reads_size_duration_and_rate_by_decoding() -> None:
    assert media.probe(PREVIEW) == media.VideoInfo(duration_s=1.0, width=1280, height=720, fps=24.0)


def test_poster_is_a_small_jpeg() -> None:
    from PIL import Image

    jpeg = media.poster(PREVIEW, max_bytes=65_536)
    assert jpeg is not None and len(jpeg) <= 65_536
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and image.width <= 640


def test_a_tight_poster_budget_shrinks_the_poster_instead_of_failing() -> None:
    jpeg = media.poster(PREVIEW, max_bytes=4_000)
    assert jpeg is not None and len(jpeg) <= 4_000


def test_files_that_are_not_videos_give_none(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert media.probe(text) is None and media.poster(text) is None
    assert media.probe(tmp_path / "missing.mp4") is None

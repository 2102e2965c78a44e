"""Only images and videos pass content sniffing, whatever their names say."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pika_mcp.sniff import SNIFF_BYTES, sniff

ASSETS = Path(__file__).resolve().parent.parent / "pika_mcp" / "assets"


def image_bytes(format: str) -> bytes:
    image = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    image.new("RGB", (16, 16), (200, 80, 20)).save(out, format)
    return out.getvalue()


def video_bytes(format: str, codec: str) -> bytes:
    av = pytest.importorskip("av")
    pytest.importorskip("PIL")
    out = io.BytesIO()
    with av.open(out, mode="w", format=format) as container:
        stream = container.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for index in range(2):
            frame = av.VideoFrame(64, 64, "yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


@pytest.mark.parametrize(
    ("format", "expected"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("AVIF", "image/avif"),
    ],
)
def test_images_written_by_pillow_are_recognised(format: str, expected: str) -> None:
    from PIL import features

    if format == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow cannot write AVIF")
    assert sniff(image_bytes(format)[:SNIFF_BYTES]) == expected


@pytest.mark.parametrize(
    ("format", "codec", "expected"),
    [
        ("mp4", "libx264", "video/mp4"),
        ("ipod", "libx264", "video/mp4"),  # .m4v, brand M4V
        ("mov", "libx264", "video/quicktime"),
        ("webm", "libvpx-vp9", "video/webm"),
        ("matroska", "libx264", "video/x-matroska"),
        ("avi", "mpeg4", "video/x-msvideo"),
    ],
)
def test_videos_written_by_ffmpeg_are_recognised(format: str, codec: str, expected: str) -> None:
    assert sniff(video_bytes(format, codec)[:SNIFF_BYTES]) == expected


def test_the_shipped_sample_images_and_preview_video_are_recognised() -> None:
    for path in ASSETS.iterdir():
        assert sniff(path.read_bytes()[:SNIFF_BYTES]) in ("image/png", "image/jpeg"), path.name
    preview = ASSETS.parent / "sandbox" / "assets" / "preview.mp4"
    assert sniff(preview.read_bytes()[:SNIFF_BYTES]) == "video/mp4"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "image/avif"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"),  # generic major brand, AVIF compatible
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1miaf", "image/heif"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "video/quicktime"),
        (b"\x00\x00\x00\x1cftypmp42\x00\x00\x00\x00mp42isomavc1", "video/mp4"),
        (b"\x00\x00\x00\x18ftypXYZW\x00\x00\x00\x00isomXYZW", "video/mp4"),  # unknown major brand, MP4 compatible
    ],
)
def test_iso_media_brands_decide_between_images_and_videos(head: bytes, expected: str) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"hello, I am a text file named cat.png\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",  # an image, but one that can carry scripts
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"\x7fELF\x02\x01\x01\x00",
        b"PK\x03\x04\x14\x00\x00\x00",
        b"MZ\x90\x00\x03\x00",
        b"#!/bin/sh\nrm -rf /\n",
        b"\x89PNG\r\n",  # truncated PNG header
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDX",  # a PNG signature without its header chunk
        b"\xff\xd8",  # truncated JPEG
        b"GIF89a",  # a GIF header with nothing after it
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # audio
        b"RIFF\x24\x00\x00\x00WEBPJUNK",  # WebP without an image chunk
        b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x99\x00\x00\x00",  # BM then nonsense
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01",  # EBML of an unknown doctype
        b"HOME=/root\x00PATH=/usr/bin\x00",  # what /proc/self/environ holds
        b"\x00\x00\x00\x1cftypXXXX\x00\x00\x00\x00XXXXYYYYZZZZ",  # an unknown ISO brand
        b"\x00\x00\x00\x08ftypisom",  # an ftyp box too short to be one
        b"\x00\x00\x00\x1cftyp",  # cut off before the brand
        b"ID3\x04\x00\x00\x00\x00\x00\x00",  # MP3
        b"OggS\x00\x02\x00\x00",  # Ogg: audio as often as video
    ],
)
def test_anything_else_is_refused(head: bytes) -> None:
    assert sniff(head) is None


def test_a_text_file_named_like_an_image_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "cat.png"
    fake.write_text("definitely a cat picture\n")
    assert sniff(fake.read_bytes()[:SNIFF_BYTES]) is None

"""Only images and videos pass content sniffing, whatever their names say."""

from __future__ import annotations

import pytest

from pika_mcp.sniff import SNIFF_BYTES, sniff

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "image/avif"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm", "video/webm"),
    ],
)
def test_images_and_videos_are_recognised_by_their_bytes(head: bytes, expected: str) -> None:
    assert sniff(head[:SNIFF_BYTES]) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"hello, I am a text file named cat.png\n",
        b"%PDF-1.7\n",
        b"\x7fELF\x02\x01\x01",
        b"PK\x03\x04",
        b"\x89PNG\r\n",  # truncated PNG header
        b"HOME=/root\x00PATH=/usr/bin\x00",  # what /proc/self/environ holds
        b"\x00\x00\x00\x1cftypXXXX",  # an unknown ISO brand
    ],
)
def test_anything_else_is_refused(head: bytes) -> None:
    assert sniff(head) is None

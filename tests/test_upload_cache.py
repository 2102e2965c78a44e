"""pika_upload_file for files large enough to be hashed while they upload: right hash, cached, errors as themselves."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from mcp import Client

from pika_mcp.inputs import HASH_FIRST_BYTES
from pika_mcp.sandbox import Fault
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import Fal

pytestmark = pytest.mark.anyio

MP4_HEADER = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def video_file(path: Path, size: int, seed: bytes) -> Path:
    """An MP4 by its first bytes, then bytes that depend on the seed."""
    block = hashlib.sha256(seed).digest() * 32768  # 1 MiB
    with path.open("wb") as out:
        out.write(MP4_HEADER)
        left = size - len(MP4_HEADER)
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)
    return path


async def test_a_large_file_is_hashed_while_it_uploads_and_the_same_content_is_not_stored_twice(
    settings: Settings, fal: Fal
) -> None:
    folder = Path(settings.allowed_dirs[0])  # type: ignore[index]
    size = HASH_FIRST_BYTES + 3 * 2**20
    first = video_file(folder / "big.mp4", size, b"one")
    copy = shutil.copyfile(first, folder / "same-content.mp4")
    other = video_file(folder / "other.mp4", size, b"two")
    async with Client(build_server(settings).mcp) as client:
        a = (await client.call_tool("pika_upload_file", {"path": str(first)})).structured_content
        # the copy's upload would take 5 s at fal: the hash finds the content first, and the upload is stopped
        # (were it not, it would complete and leave a third file, which the last assertion counts)
        fal.sandbox.config.faults.append(Fault(op="upload", kind="slow", delay_seconds=5.0))
        b = (await client.call_tool("pika_upload_file", {"path": str(copy)})).structured_content
        c = (await client.call_tool("pika_upload_file", {"path": str(other)})).structured_content
    assert a["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest() and a["file_size"] == size
    assert b == a  # the same content: the first upload's URL, whatever the file is called
    assert c["sha256"] == hashlib.sha256(other.read_bytes()).hexdigest() != a["sha256"] and c["url"] != a["url"]
    assert fal.stored(a["url"]).read_bytes() == first.read_bytes()
    assert fal.stored(c["url"]).read_bytes() == other.read_bytes()
    kept = [p for p in (fal.sandbox.state_dir / "files").rglob("*") if p.is_file() and p.stat().st_size == size]
    assert len(kept) == 2, kept  # two contents, two files at fal: the copy's upload was stopped, not completed


async def test_a_large_upload_that_fal_refuses_is_a_clear_error(settings: Settings, fal: Fal) -> None:
    big = video_file(Path(settings.allowed_dirs[0]) / "big.mp4", HASH_FIRST_BYTES + 2**20, b"refused")  # type: ignore[index]
    fal.sandbox.config.faults.append(Fault(op="upload", status=403, times=None))
    async with Client(build_server(settings).mcp) as client:
        refused = await client.call_tool("pika_upload_file", {"path": str(big)})
        fal.sandbox.config.faults.clear()
        again = await client.call_tool("pika_upload_file", {"path": str(big)})
    text = refused.content[0].text  # type: ignore[union-attr]
    assert refused.is_error and "403" in text and "upload" in text and "group" not in text.lower(), text
    assert not again.is_error and again.structured_content["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert os.path.getsize(fal.stored(again.structured_content["url"])) == big.stat().st_size


async def test_a_storage_without_multipart_gets_the_large_file_whole(settings: Settings, fal: Fal) -> None:
    """A fal-compatible storage that answers 404 to starting a multipart upload: the file goes in one request."""
    from pika_mcp.storage import MULTIPART_THRESHOLD

    big = video_file(Path(settings.allowed_dirs[0]) / "big.mp4", MULTIPART_THRESHOLD + 2**20, b"whole")  # type: ignore[index]
    fal.sandbox.config.faults.append(Fault(op="upload", status=404, times=1, detail="Not Found"))
    async with Client(build_server(settings).mcp) as client:
        answer = await client.call_tool("pika_upload_file", {"path": str(big)})
    assert not answer.is_error, answer.content
    uploads = [(r.method, r.path) for r in fal.sent("upload")]
    assert uploads == [("POST", "/files/upload/multipart"), ("POST", "/files/upload")], uploads
    assert fal.stored(answer.structured_content["url"]).read_bytes() == big.read_bytes()

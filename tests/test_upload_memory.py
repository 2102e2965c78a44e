"""A 200 MB upload streams from disk: the uploading process's memory stays flat."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import Fal

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX")]

SIZE = 200 * 1024 * 1024
UPLOAD = """
import resource, sys, anyio, httpx2
from pathlib import Path
from pika_mcp.storage import FalStorage

async def main(url, path):
    async with httpx2.AsyncClient(timeout=120) as http:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        answer = await FalStorage(http, url, "key").upload(Path(path), "video/mp4", Path(path).stat().st_size)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(answer, (after - before) // 1024)

anyio.run(main, sys.argv[1], sys.argv[2])
"""


@pytest.mark.parametrize("size", [SIZE, 60 * 1024 * 1024], ids=["multipart-200MB", "single-60MB"])
async def test_large_upload_keeps_memory_flat_and_arrives_whole(tmp_path: Path, fal: Fal, size: int) -> None:
    source = tmp_path / "big.mp4"
    with source.open("wb") as out:
        out.write(b"\x00\x00\x00\x20ftypisom" + b"\x00" * 20)
        out.seek(size - 1)
        out.write(b"\x01")
    done = await anyio_run([sys.executable, "-c", UPLOAD, fal.url, str(source)])
    url, growth_mb = done.split()
    assert int(growth_mb) < 48, f"memory grew {growth_mb} MB during the upload"
    assert fal.stored(url).stat().st_size == size


async def anyio_run(command: list[str]) -> str:
    import anyio

    result = await anyio.run_process(command, check=False)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout.decode().strip().splitlines()[-1]

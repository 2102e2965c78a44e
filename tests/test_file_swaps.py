"""A local file is opened once and checked by its descriptor: a path swapped for a symlink or a FIFO after the check
never changes what is hashed and uploaded; and a call with a local file counts by the file's content, not its path."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from pika_mcp.files import FilePolicy
from pika_mcp.inputs import Inputs
from pika_mcp.ledger import Ledger
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from pika_mcp.storage import FalStorage
from tests.conftest import TEST_KEY, Fal

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(os.name == "nt", reason="symlinks and FIFOs are POSIX features")]

PNG = (Path(__file__).resolve().parent.parent / "pika_mcp" / "assets" / "fox.png").read_bytes()
SECRET = PNG[:64] + b"another file's bytes, which must never reach fal under the checked file's hash"
SWAP_SECONDS = 30.0  # a guard against a hang (a FIFO opened by name), never a speed limit


class SwapAtUpload:
    """fal's storage, reached just after an attacker swapped the checked path for something else."""

    def __init__(self, inner: FalStorage, swap: Callable[[], None]) -> None:
        self.inner, self.swap = inner, swap

    async def upload(self, source: Any, content_type: str, size: int) -> str:
        self.swap()
        return await self.inner.upload(source, content_type, size)


def swap_for_symlink(path: Path, target: Path) -> Callable[[], None]:
    def swap() -> None:
        link = path.with_name("swap-link")
        link.symlink_to(target)
        os.replace(link, path)

    return swap


def swap_for_fifo(path: Path, writers: list[threading.Thread]) -> Callable[[], None]:
    """The path becomes a FIFO whose writer offers SECRET to whoever opens it by name."""

    def write() -> None:
        try:
            fd = os.open(path, os.O_WRONLY)  # waits for a reader: the test opens one at the end if nobody did
            try:
                os.write(fd, SECRET)
            finally:
                os.close(fd)
        except OSError:
            pass  # the reader left first

    def swap() -> None:
        pipe = path.with_name("swap-pipe")
        os.mkfifo(pipe)
        os.replace(pipe, path)
        writers.append(threading.Thread(target=write, daemon=True))
        writers[-1].start()

    return swap


@pytest.mark.parametrize("attack", ["symlink", "fifo"])
async def test_a_path_swapped_after_its_check_uploads_the_checked_bytes_under_their_hash(
    tmp_path: Path, settings: Settings, fal: Fal, attack: str
) -> None:
    folder = Path(settings.allowed_dirs[0])  # type: ignore[index]
    image = folder / "fox.png"
    image.write_bytes(PNG)
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    writers: list[threading.Thread] = []
    swap = swap_for_symlink(image, secret) if attack == "symlink" else swap_for_fifo(image, writers)
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        async with httpx2.AsyncClient(timeout=30.0) as http:
            storage = SwapAtUpload(FalStorage(http, fal.url, TEST_KEY), swap)
            inputs = Inputs(FilePolicy((folder,), settings.output_dir), storage, ledger, origin=fal.url)  # type: ignore[arg-type]
            with anyio.fail_after(SWAP_SECONDS):
                answer = await inputs.upload(str(image))
            stored = (await http.get(answer["url"])).content
    finally:
        ledger.close()
        if writers:  # release a writer still waiting for a reader
            reader = os.open(image, os.O_RDONLY | os.O_NONBLOCK)
            writers[0].join(SWAP_SECONDS)
            os.close(reader)
    assert stored == PNG  # what fal holds is the file that was checked, not what the path names now
    assert answer["sha256"] == hashlib.sha256(PNG).hexdigest() and answer["file_size"] == len(PNG)
    assert len(fal.sent("upload")) == 1


def test_a_fifo_is_refused_at_once_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(Exception, match="not a regular file"):
        FilePolicy((tmp_path,), tmp_path / "out").open(str(tmp_path / "pipe.png"))  # would block forever if opened blocking


async def test_an_edited_image_at_the_same_path_is_a_new_call_and_a_copy_is_the_same_call(
    tmp_path: Path, settings: Settings, fal: Fal
) -> None:
    folder = Path(settings.allowed_dirs[0])  # type: ignore[index]
    image = folder / "frame.png"
    image.write_bytes(PNG)
    args = {"image_url": str(image), "prompt": "the fox waves"}
    async with Client(build_server(settings).mcp) as client:
        first = (await client.call_tool("pika_v22_image_to_video", args)).structured_content
        shutil.copyfile(image, folder / "copy.png")
        image.write_bytes(PNG + b"edited")  # same path, new content, well within the 10-minute window
        edited = (await client.call_tool("pika_v22_image_to_video", args)).structured_content
        copy = args | {"image_url": str(folder / "copy.png")}
        copied = (await client.call_tool("pika_v22_image_to_video", copy)).structured_content
    assert first is not None and edited is not None and copied is not None
    assert not edited["deduplicated"] and edited["job_id"] != first["job_id"]
    assert copied["deduplicated"] and copied["job_id"] == first["job_id"]  # the same content under another name
    assert len(fal.sent("submit")) == 2

"""Stored files on disk: uploads and rendered videos under `state_dir/files`, written as streams."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import anyio

DEFAULT_NAME = "upload.bin"
UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
FILES_PREFIX = "files/"
JOIN_PLAN = "join.json"  # in a parts folder: the upload was completed; join these parts into that file
JOIN_WAIT_SECONDS = 120.0
WRITE_BUFFER = 1 << 20  # bytes of an upload gathered before each write to disk
# Windows refuses to replace a file another program holds open (PermissionError), e.g. while the sandbox's server
# sends it: try again for about two seconds, the time a preview download or an antivirus scan usually takes.
REPLACE_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.6, 0.8)


def replace(source: Path, target: Path) -> None:
    """`os.replace`, tried again while Windows says the target is in use; the last refusal is raised."""
    for delay in REPLACE_DELAYS:
        try:
            os.replace(source, target)
            return
        except PermissionError:
            time.sleep(delay)
    os.replace(source, target)


def safe_name(name: str | None) -> str:
    """A file name that is one plain URL segment, e.g. `my photo.png` becomes `my_photo.png`."""
    cleaned = UNSAFE_NAME_CHARS.sub("_", (name or "").rsplit("/", 1)[-1]).strip("._")
    return cleaned or DEFAULT_NAME


class FileStore:
    """Maps sandbox-relative paths like `files/<token>/<name>` to disk, never outside its root."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir.resolve()
        (self.root / "files").mkdir(parents=True, exist_ok=True)
        (self.root / "parts").mkdir(exist_ok=True)
        self._joining: dict[str, threading.Event] = {}  # relative path -> set once its parts are joined
        self._joiners: list[threading.Thread] = []
        for plan in (self.root / "parts").glob(f"*/{JOIN_PLAN}"):  # completed before a crash, never joined
            try:
                data = json.loads(plan.read_text())
                self._join(plan.parent.name, data["relative"], [tuple(p) for p in data["parts"]])
            except (OSError, ValueError, KeyError, TypeError):  # a plan or parts the crash left unusable
                shutil.rmtree(plan.parent, ignore_errors=True)

    def close(self) -> None:
        """Wait for the joins still running."""
        for thread in self._joiners:
            thread.join()

    def new_path(self, name: str | None) -> str:
        return f"{FILES_PREFIX}{secrets.token_urlsafe(12)}/{safe_name(name)}"

    def result_path(self, request_id: str, name: str) -> str:
        return f"{FILES_PREFIX}{request_id}/{name}"

    def disk(self, relative: str) -> Path | None:
        """The file a relative path names, or None when it points outside the files folder."""
        target = (self.root / relative).resolve()
        files = self.root / "files"
        return target if target.is_relative_to(files) and target != files else None

    async def write(self, relative: str, chunks: AsyncIterator[bytes]) -> int:
        """Stream chunks to a temporary name, then rename; returns the size."""
        target = self.disk(relative)
        if target is None:
            raise ValueError(f"Refusing to write outside the files folder: {relative}.")
        return await _write(target, chunks)

    def fetch(self, url: str) -> bytes | None:
        """Bytes behind a URL the sandbox can resolve: its own /files/ URLs and data: URIs."""
        if url.startswith("data:"):
            return _decode_data_uri(url)
        path = unquote(urlsplit(url).path).lstrip("/")
        if not path.startswith(FILES_PREFIX):
            return None
        self.wait_joined(path)
        target = self.disk(path)
        return target.read_bytes() if target is not None and target.is_file() else None

    def joining(self, relative: str) -> bool:
        """True while the parts of a just-completed multipart upload at `relative` are being joined."""
        return relative in self._joining

    def wait_joined(self, relative: str, timeout: float = JOIN_WAIT_SECONDS) -> None:
        """Block until a completed multipart upload at `relative` has been joined into its file."""
        if (done := self._joining.get(relative)) is not None:
            done.wait(timeout)

    # Multipart uploads: parts live in `parts/<upload_id>/<n>` until completed.

    def _part_dir(self, upload_id: str) -> Path:
        return self.root / "parts" / safe_name(upload_id)

    async def write_part(self, upload_id: str, number: int, chunks: AsyncIterator[bytes]) -> str:
        """Store one part; returns its ETag, opaque to clients as S3's is (here random: the bytes are not read again)."""
        target = self._part_dir(upload_id) / str(number)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = await _write(target, chunks)
        etag = f"{secrets.token_hex(8)}{size:x}"
        target.with_suffix(".etag").write_text(etag)
        return f'"{etag}"'

    def complete(self, upload_id: str, relative: str, parts: list[tuple[int, str]]) -> int:
        """Check the named parts and return the file's size; the parts are joined in the background, as a store
        completes a multipart upload without copying it while the client waits. Raises ValueError on a bad part."""
        folder = self._part_dir(upload_id)
        size = 0
        for number, etag in parts:
            part = folder / str(number)
            if not part.is_file() or not part.with_suffix(".etag").is_file():
                raise ValueError(f"Part {number} was never uploaded.")
            known = part.with_suffix(".etag").read_text()
            if etag.strip('"') != known:
                raise ValueError(f"Part {number} has ETag {known}, not {etag}.")
            size += part.stat().st_size
        if self.disk(relative) is None:
            raise ValueError(f"Refusing to write outside the files folder: {relative}.")
        (folder / JOIN_PLAN).write_text(json.dumps({"relative": relative, "parts": sorted(parts)}))
        done = self._joining[relative] = threading.Event()
        thread = threading.Thread(target=self._join, args=(upload_id, relative, parts, done), name="sandbox-join", daemon=True)
        self._joiners = [*(t for t in self._joiners if t.is_alive()), thread]
        thread.start()
        return size

    def _join(self, upload_id: str, relative: str, parts: list[tuple[int, str]], done: threading.Event | None = None) -> None:
        """Join the parts in order under a temporary name, rename it into place, then drop the parts."""
        folder = self._part_dir(upload_id)
        target = self.disk(relative)
        try:
            if target is None:
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
            with open(temporary, "wb") as out:
                for number, _ in sorted(parts):
                    with open(folder / str(number), "rb") as part_file:
                        _append(part_file, out)
            replace(temporary, target)
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            if done is not None:
                done.set()
                self._joining.pop(relative, None)


async def _write(target: Path, chunks: AsyncIterator[bytes]) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    size = 0
    pending = bytearray()  # the server hands over ~64 KiB at a time: one trip to a thread per MiB, not per chunk
    try:
        async with await anyio.open_file(temporary, "wb") as out:
            async for chunk in chunks:
                pending += chunk
                size += len(chunk)
                if len(pending) >= WRITE_BUFFER:
                    await out.write(bytes(pending))
                    pending.clear()
            if pending:
                await out.write(bytes(pending))
        try:
            os.replace(temporary, target)
        except PermissionError:  # Windows, the target in use: wait in a thread, not in the event loop
            await anyio.to_thread.run_sync(replace, temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return size


def _append(source: BinaryIO, out: BinaryIO) -> None:
    """Copy a whole file onto the end of another: in the kernel where the system can, else through a buffer."""
    if hasattr(os, "copy_file_range"):
        out.flush()  # the descriptor's offset must be the file's end
        start = out.tell()
        try:
            while os.copy_file_range(source.fileno(), out.fileno(), 1 << 30):
                pass
            return
        except OSError:  # a file system that cannot: start this part again the plain way
            out.truncate(start)
            out.seek(start)
            source.seek(0)
    shutil.copyfileobj(source, out, 1 << 22)


def _decode_data_uri(uri: str) -> bytes | None:
    header, sep, payload = uri.partition(",")
    if not sep:
        return None
    if header.endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=False)
        except ValueError:
            return None
    return unquote_to_bytes(payload)

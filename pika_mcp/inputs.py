"""Media inputs made fal-ready: URLs pass through; local files and data: URIs are uploaded once each, by content hash."""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import anyio

from pika_mcp.catalog import Endpoint
from pika_mcp.errors import FileRefused, InputError
from pika_mcp.files import FilePolicy, LocalFile
from pika_mcp.ledger import Ledger
from pika_mcp.models import MEDIA_FIELDS
from pika_mcp.sniff import SNIFF_BYTES, sniff
from pika_mcp.storage import FalStorage

MAX_DATA_URI_BYTES = 50 * 1024 * 1024  # decoded; larger inputs should be files
HASH_CHUNK = 1 << 20
# Files up to this size are hashed before anything is sent, so a cached one costs no request at all;
# larger ones are hashed while they upload, which saves a whole pass over the file on every new upload.
HASH_FIRST_BYTES = 16 * 1024 * 1024


@dataclass
class Inputs:
    policy: FilePolicy | None  # None: local files are refused (HTTP without PIKA_MCP_ALLOWED_DIRS)
    storage: FalStorage
    ledger: Ledger
    origin: str  # the storage the cache is valid for

    async def resolve(self, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
        """The body with every local or data: media reference replaced by an uploaded URL; nothing uploaded if one is refused."""
        for field, ref in _media_refs(body):  # refuse the whole call before any file leaves the machine
            if ref.startswith("data:"):
                _data_content(ref, field)
            elif not ref.startswith(("https://", "http://")):
                try:
                    await self._check(ref)
                except FileRefused as exc:
                    raise FileRefused(f"{field}: {exc}", field=field) from None
        out = dict(body)
        for name in MEDIA_FIELDS:
            value = out.get(name)
            if isinstance(value, str):
                out[name] = await self.url_for(value, name)
            elif isinstance(value, list):
                out[name] = [await self.url_for(v, f"{name}[{i}]") for i, v in enumerate(value)]
        return out

    async def url_for(self, ref: str, field: str) -> str:
        if ref.startswith(("https://", "http://")):
            return ref
        if ref.startswith("data:"):
            return await self._upload_data(ref, field)
        return (await self.upload(ref))["url"]

    async def upload(self, ref: str) -> dict[str, Any]:
        """A local file (path or file:// URI) uploaded, or found in the cache; the pika_upload_file answer."""
        local = await self._check(ref)
        if local.size > HASH_FIRST_BYTES:
            return await self._upload_while_hashing(local)
        digest = await anyio.to_thread.run_sync(_sha256, local.path)
        return await self._cached_upload(local, digest)

    async def _upload_while_hashing(self, local: LocalFile) -> dict[str, Any]:
        """Upload and hash at once; if the hash shows the content was uploaded before, stop and answer that.

        Hashing takes a fraction of a second where uploading takes far longer, so a stopped upload has sent
        little, and leaves no file at fal (an upload cut before it completes is not stored).
        """
        done: dict[str, Any] = {}

        async def send(scope: anyio.CancelScope) -> None:
            with scope:
                try:
                    done["url"] = await self.storage.upload(local.path, local.content_type, local.size)
                except Exception as exc:  # raised below as itself, not inside a task group's exception group
                    done["error"] = exc

        sending = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, sending)
            try:
                done["sha256"] = await anyio.to_thread.run_sync(_sha256, local.path)
                done["known"] = self.ledger.upload(done["sha256"], self.origin)
            except Exception as exc:
                done["error"] = exc
            if done.get("known") is not None or "error" in done:
                sending.cancel()
        if done.get("known") is not None:
            return dict(done["known"])
        if "error" in done:
            raise done["error"]
        return self._remember(local, done["sha256"], done["url"])

    async def _check(self, ref: str) -> LocalFile:
        if self.policy is None:
            raise FileRefused(
                "Local files are not accepted on this server (HTTP without PIKA_MCP_ALLOWED_DIRS); pass an https URL."
            )
        return await anyio.to_thread.run_sync(self.policy.check, ref)

    async def _cached_upload(self, local: LocalFile, digest: str) -> dict[str, Any]:
        if (known := self.ledger.upload(digest, self.origin)) is not None:
            return known
        url = await self.storage.upload(local.path, local.content_type, local.size)
        return self._remember(local, digest, url)

    def _remember(self, local: LocalFile, digest: str, url: str) -> dict[str, Any]:
        self.ledger.add_upload(digest, self.origin, url, local.content_type, local.size)
        return {"url": url, "content_type": local.content_type, "file_size": local.size, "sha256": digest}

    async def _upload_data(self, uri: str, field: str) -> str:
        data, content_type = _data_content(uri, field)
        digest = hashlib.sha256(data).hexdigest()
        if (known := self.ledger.upload(digest, self.origin)) is not None:
            return str(known["url"])
        with tempfile.TemporaryDirectory(prefix="pika-mcp-") as folder:
            path = Path(folder) / f"upload.{content_type.split('/')[1]}"
            path.write_bytes(data)
            return str((await self._cached_upload(LocalFile(path, content_type, len(data)), digest))["url"])


def _media_refs(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, reference) for every media reference of a body, lists flattened as `name[i]`."""
    refs: list[tuple[str, str]] = []
    for name in MEDIA_FIELDS:
        value = body.get(name)
        if isinstance(value, str):
            refs.append((name, value))
        elif isinstance(value, list):
            refs += [(f"{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str)]
    return refs


def _data_content(uri: str, field: str) -> tuple[bytes, str]:
    """A data: URI's bytes and content type, or InputError unless it is an image or a video."""
    data = decode_data_uri(uri, field)
    content_type = sniff(data[:SNIFF_BYTES])
    if content_type is None or not content_type.startswith(("image/", "video/")):
        raise InputError(f"{field}: the data: URI is not an image or a video by its content.", field=field)
    return data, content_type


def decode_data_uri(uri: str, field: str) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep:
        raise InputError(f"{field}: a data: URI needs a comma before its data.", field=field)
    if len(payload) > MAX_DATA_URI_BYTES * 4 // 3 + 4:
        raise InputError(f"{field}: the data: URI is over {MAX_DATA_URI_BYTES // 2**20} MB; pass a file path instead.", field=field)
    try:
        data = base64.b64decode(payload, validate=True) if header.endswith(";base64") else unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise InputError(f"{field}: the data: URI is not valid base64.", field=field) from None
    return data


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

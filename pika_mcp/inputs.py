"""Media inputs made fal-ready: URLs pass through; local files and data: URIs are uploaded once each, by content hash."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

import anyio

from pika_mcp.catalog import Endpoint
from pika_mcp.errors import FileRefused, InputError
from pika_mcp.files import FilePolicy, LocalFile
from pika_mcp.models import MAX_DATA_URI_BYTES, MEDIA_FIELDS, data_uri_size
from pika_mcp.origins import Origins, refusal
from pika_mcp.sniff import SNIFF_BYTES, sniff
from pika_mcp.storage import FalStorage
from pika_mcp.store import UploadCache

HASH_CHUNK = 1 << 20
# Files up to this size are hashed before anything is sent, so a cached one costs no request at all;
# larger ones are hashed while they upload, which saves a whole pass over the file on every new upload.
HASH_FIRST_BYTES = 16 * 1024 * 1024
# Digests of files hashed for a call's identity, by the file's identity (device, inode, size, times), so the
# upload that follows need not read the file again; a few hundred cover every call in flight.
KNOWN_DIGESTS = 256


class _Source(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def size(self) -> int: ...

    def read_at(self, offset: int, length: int) -> bytes: ...

    def unchanged(self) -> bool: ...


@dataclass
class _Bytes:
    """A data: URI's decoded bytes, readable like an open file."""

    data: bytes
    content_type: str
    name: str = "upload"

    @property
    def size(self) -> int:
        return len(self.data)

    def read_at(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]

    def unchanged(self) -> bool:
        return True


@dataclass
class Inputs:
    policy: FilePolicy | None  # None: local files are refused (HTTP without PIKA_MCP_ALLOWED_DIRS)
    storage: FalStorage
    ledger: UploadCache
    origin: str  # the storage the cache is valid for
    trusted: Origins = field(default_factory=Origins)  # fal's configured origins: their URLs pass as they are, http included
    _digests: OrderedDict[tuple[int, ...], str] = field(default_factory=OrderedDict, repr=False)

    async def resolve(self, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
        """The body with every local or data: media reference replaced by an uploaded URL; nothing uploaded if one is refused."""
        for field_name, ref in _media_refs(body):  # refuse the whole call before any file leaves the machine
            if ref.startswith("data:"):
                _data_content(ref, field_name)
            elif ref.lower().startswith(("https://", "http://")):
                if (why := refusal(ref, self.trusted)) is not None:  # judged from the text alone: no DNS lookup
                    raise InputError(
                        f"{field_name}: this URL is not accepted ({why}). Give an https URL on a public host, a data: URI, "
                        "or a local file."
                    )
            else:
                (await self._open(ref, field_name)).close()
        out = dict(body)
        for name in MEDIA_FIELDS:
            value = out.get(name)
            if isinstance(value, str):
                out[name] = await self.url_for(value, name)
            elif isinstance(value, list):
                out[name] = [await self.url_for(v, f"{name}[{i}]") for i, v in enumerate(value)]
        return out

    async def content_of(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body with each local file named by its content (`sha256:…`), not its path; nothing is uploaded.

        What a call is keyed on for idempotency: the same path with new content is a new call.
        """
        out = dict(body)
        for name in MEDIA_FIELDS:
            value = out.get(name)
            if isinstance(value, str):
                out[name] = await self._content_ref(value, name)
            elif isinstance(value, list):
                out[name] = [await self._content_ref(v, f"{name}[{i}]") for i, v in enumerate(value)]
        return out

    async def _content_ref(self, ref: Any, field_name: str) -> Any:
        if not isinstance(ref, str) or ref.startswith(("https://", "http://", "data:")):
            return ref  # a URL is what fal fetches; a data: URI is its own content
        with await self._open(ref, field_name) as local:
            return "sha256:" + await self._digest(local)

    async def url_for(self, ref: str, field_name: str) -> str:
        if ref.startswith(("https://", "http://")):
            return ref
        if ref.startswith("data:"):
            data, content_type = _data_content(ref, field_name)
            source = _Bytes(data, content_type, f"upload.{content_type.split('/')[1]}")
            return str((await self._cached_upload(source, hashlib.sha256(data).hexdigest()))["url"])
        return str((await self.upload(ref))["url"])

    async def upload(self, ref: str) -> dict[str, Any]:
        """A local file (path or file:// URI) uploaded, or found in the cache; the pika_upload_file answer.

        The file is opened once: what is checked, hashed and uploaded all come from that one descriptor. A file
        small enough is read once and the bytes hashed are the bytes sent.
        """
        with await self._open(ref) as local:
            known = self._digests.get(local.identity)
            if known is not None and (found := self.ledger.upload(known, self.origin)) is not None:
                return found
            if local.size > HASH_FIRST_BYTES:
                return await self._upload_while_hashing(local)
            data = await anyio.to_thread.run_sync(local.read_at, 0, local.size)
            if len(data) != local.size:
                raise FileRefused(f"{local.name} changed while it was being read; try again once it is written.")
            digest = self._know(local.identity, hashlib.sha256(data).hexdigest())
            return await self._cached_upload(_Bytes(data, local.content_type, local.name), digest)

    async def _digest(self, local: LocalFile) -> str:
        return self._digests.get(local.identity) or self._know(local.identity, await anyio.to_thread.run_sync(_sha256, local))

    def _know(self, identity: tuple[int, ...], digest: str) -> str:
        self._digests[identity] = digest
        self._digests.move_to_end(identity)
        while len(self._digests) > KNOWN_DIGESTS:
            self._digests.popitem(last=False)
        return digest

    async def _upload_while_hashing(self, local: LocalFile) -> dict[str, Any]:
        """Upload and hash at once; if the hash shows the content was uploaded before, stop and answer that.

        Hashing takes a fraction of a second where uploading takes far longer, so a stopped upload has sent
        little, and leaves no file at fal (an upload cut before it completes is not stored).
        """
        done: dict[str, Any] = {}

        async def send(scope: anyio.CancelScope) -> None:
            with scope:
                try:
                    done["url"] = await self.storage.upload(local, local.content_type, local.size)
                except Exception as exc:  # raised below as itself, not inside a task group's exception group
                    done["error"] = exc

        sending = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, sending)
            try:
                done["sha256"] = await anyio.to_thread.run_sync(_sha256, local)
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

    async def _open(self, ref: str, field_name: str | None = None) -> LocalFile:
        if self.policy is None:
            raise FileRefused(
                "Local files are not accepted on this server (HTTP without PIKA_MCP_ALLOWED_DIRS); pass an https URL."
            )
        try:
            return await anyio.to_thread.run_sync(self.policy.open, ref)
        except FileRefused as exc:
            if field_name is None:
                raise
            raise FileRefused(f"{field_name}: {exc}", field=field_name) from None

    async def _cached_upload(self, source: _Source, digest: str) -> dict[str, Any]:
        if (known := self.ledger.upload(digest, self.origin)) is not None:
            return known
        url = await self.storage.upload(source, source.content_type, source.size)
        return self._remember(source, digest, url)

    def _remember(self, source: _Source, digest: str, url: str) -> dict[str, Any]:
        if not source.unchanged():  # written to while it was hashed or sent: the bytes at fal may not be the hashed ones
            raise FileRefused(f"{source.name} changed while it was being uploaded; try again once it is written.")
        self.ledger.add_upload(digest, self.origin, url, source.content_type, source.size)
        return {"url": url, "content_type": source.content_type, "file_size": source.size, "sha256": digest}


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
    too_big = f"{field}: the data: URI is over {MAX_DATA_URI_BYTES // 2**20} MB; pass a file path instead."
    if data_uri_size(uri) > MAX_DATA_URI_BYTES:  # judged from its length, before decoding anything
        raise InputError(too_big, field=field)
    try:
        data = base64.b64decode(payload, validate=True) if header.endswith(";base64") else unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise InputError(f"{field}: the data: URI is not valid base64.", field=field) from None
    if len(data) > MAX_DATA_URI_BYTES:
        raise InputError(too_big, field=field)
    return data


def _sha256(source: _Source) -> str:
    digest = hashlib.sha256()
    offset = 0
    while offset < source.size and (chunk := source.read_at(offset, min(HASH_CHUNK, source.size - offset))):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()

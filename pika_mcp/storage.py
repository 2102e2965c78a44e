"""fal's storage protocol: a CDN token from the REST API, then single or multipart uploads to its base_url."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx2

from pika_mcp.errors import FalError
from pika_mcp.origins import Origins
from pika_mcp.pace import Pace
from pika_mcp.queue import USER_AGENT
from pika_mcp.retry import RetryPolicy, with_retries
from pika_mcp.wire import Answer, Limits, call, fetch

MULTIPART_THRESHOLD = 100 * 1024 * 1024  # fal-client: above 100 MiB, multipart
PART_SIZE = 10 * 1024 * 1024  # 10 MiB parts, as fal-client sends them
PARALLEL_PARTS = 4  # fal-client sends up to 10 at once; 4 fills a home uplink without hogging it
READ_CHUNK = 1 << 20  # stream single uploads from disk 1 MiB at a time
TOKEN_MARGIN = 60.0  # renew the CDN token a minute before fal says it expires
STORAGE_TYPE = "fal-cdn-v3"
# Answers to starting a multipart upload that mean "no such route here": send the file in one request instead.
NO_MULTIPART_STATUSES = frozenset({404, 405, 501})

log = logging.getLogger(__name__)


class Readable(Protocol):
    """An open file to upload (pika_mcp.files.LocalFile): read by offset, so the bytes sent are the ones checked."""

    @property
    def name(self) -> str: ...

    def read_at(self, offset: int, length: int) -> bytes: ...


class _NoMultipart(Exception):
    """The storage answered that it has no multipart route: nothing was sent yet, so a single upload can follow."""


@dataclass(frozen=True)
class _Token:
    header: str
    base_url: str
    expires: float


class FalStorage:
    """Uploads: the key goes only to `rest_url` (for a token); files go, with the token, to the base_url it names.

    That base_url joins `origins`, the origins that downloads trust as configured.
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        rest_url: str,
        key: str | None,
        *,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
        pace: Pace | None = None,
        origins: Origins | None = None,
    ) -> None:
        self._http = http
        self._rest_url = rest_url.rstrip("/")
        self._key_headers = {"User-Agent": USER_AGENT} | ({"Authorization": f"Key {key}"} if key else {})
        self._policy = policy or RetryPolicy()
        self._limits = limits or Limits()
        self._pace = pace or Pace()
        self._origins = origins
        self._token: _Token | None = None
        self._multipart_ok = True  # until the storage answers that it has no multipart route
        self._lock = anyio.Lock()

    async def _cdn_token(self) -> _Token:
        async with self._lock:
            if self._token is not None and self._token.expires - TOKEN_MARGIN > time.time():
                return self._token
            answer = await call(
                self._http,
                "POST",
                f"{self._rest_url}/storage/auth/token",
                where=f"fal's storage API at {self._rest_url}",
                policy=self._policy,
                limits=self._limits,
                headers=self._key_headers,
                params={"storage_type": STORAGE_TYPE},
                json={},
            )
            if answer.status_code >= 400:
                raise answer.error("fal refused a storage token")
            data = answer.json("fal's storage token answer")
            try:
                expires = _epoch(str(data.get("expires_at", "")))
                self._token = _Token(f"{data['token_type']} {data['token']}", str(data["base_url"]).rstrip("/"), expires)
            except KeyError as exc:
                raise FalError(f"fal's storage token answer lacks {exc}.") from exc
            if self._origins is not None:
                self._origins.add(self._token.base_url)
            return self._token

    async def upload(self, path: Path | Readable, content_type: str, size: int) -> str:
        """Upload a file streamed from disk (by name, or from an open file); returns its public URL."""
        token = await self._cdn_token()
        headers = {
            "Authorization": token.header,
            "Content-Type": content_type,
            "X-Fal-File-Name": path.name,
            "User-Agent": USER_AGENT,
        }
        if size > MULTIPART_THRESHOLD and self._multipart_ok:
            try:
                return await self._multipart(path, token, headers, size)
            except _NoMultipart as exc:
                log.info("fal's storage at %s has no multipart uploads (HTTP %s); sending files whole", token.base_url, exc)
                self._multipart_ok = False
        return await self._single(path, token, headers, size)

    async def _single(self, path: Path | Readable, token: _Token, headers: dict[str, str], size: int) -> str:
        url = f"{token.base_url}/files/upload"
        answer = await self._transfer("POST", url, path, 0, size, headers | {"Content-Length": str(size)}, "The upload")
        if answer.status_code >= 400:
            raise answer.error("fal refused the upload")
        return _field(answer, "access_url")

    async def _multipart(self, path: Path | Readable, token: _Token, headers: dict[str, str], size: int) -> str:
        response = await self._call("POST", f"{token.base_url}/files/upload/multipart", headers)
        if response.status_code in NO_MULTIPART_STATUSES:
            raise _NoMultipart(response.status_code)
        if response.status_code >= 400:
            raise response.error("fal refused to start a multipart upload")
        access_url, upload_id = _field(response, "access_url"), _field(response, "uploadId")
        count = -(-size // PART_SIZE)
        etags: dict[int, str] = {}
        part_headers = {"Authorization": token.header, "User-Agent": USER_AGENT}
        limit = anyio.CapacityLimiter(PARALLEL_PARTS)

        async def put(number: int) -> None:
            offset = (number - 1) * PART_SIZE
            length = min(PART_SIZE, size - offset)
            url = f"{access_url}/multipart/{upload_id}/{number}"
            async with limit:
                answer = await self._transfer(
                    "PUT",
                    url,
                    path,
                    offset,
                    length,
                    part_headers | {"Content-Length": str(length)},
                    f"Part {number} of the upload",
                )
            if answer.status_code >= 400:
                raise answer.error(f"fal refused part {number} of a multipart upload")
            etags[number] = answer.headers.get("etag", "")

        async with anyio.create_task_group() as tg:
            for number in range(1, count + 1):
                tg.start_soon(put, number)
        parts = [{"partNumber": n, "etag": etags[n]} for n in range(1, count + 1)]
        done = await self._call("POST", f"{access_url}/multipart/{upload_id}/complete", part_headers, json={"parts": parts})
        if done.status_code >= 400:
            raise done.error("fal refused to complete a multipart upload")
        return str(done.json("fal's answer to a multipart upload").get("access_url", access_url))

    async def _call(self, method: str, url: str, headers: dict[str, str], *, json: Any = None) -> Answer:
        """A small request to the storage: the retry table, and the answer limits of every call to fal."""
        where = "fal's storage"
        return await call(
            self._http, method, url, where=where, policy=self._policy, limits=self._limits, headers=headers, json=json
        )

    async def _transfer(
        self, method: str, url: str, path: Path | Readable, offset: int, length: int, headers: dict[str, str], what: str
    ) -> Answer:
        """Send `length` bytes of `path` from `offset`: no total deadline, but given up when it moves too slowly."""

        async def attempt() -> Answer:
            # the body is closed here, not whenever the collector finds it (an open file, when an upload is given up)
            async with self._pace.guard(what) as meter, aclosing(_chunks(path, offset, length)) as chunks:
                body = meter.counted(chunks)
                return await fetch(
                    self._http, method, url, where="fal's storage", limits=self._limits, headers=headers, content=body
                )

        return await with_retries(attempt, self._policy)


def _field(answer: Answer, name: str) -> str:
    value = answer.json("fal's storage answer").get(name)
    if value is None:
        raise FalError(f"fal's storage answer lacks {name!r}.")
    return str(value)


async def _chunks(path: Path | Readable, offset: int = 0, length: int | None = None) -> AsyncGenerator[bytes, None]:
    """The bytes of a file (or of one part of it), read from disk a chunk at a time."""
    if not isinstance(path, Path):
        assert length is not None
        while length > 0 and (chunk := await anyio.to_thread.run_sync(path.read_at, offset, min(READ_CHUNK, length))):
            offset += len(chunk)
            length -= len(chunk)
            yield chunk
        return
    left = path.stat().st_size - offset if length is None else length
    with path.open("rb") as source:  # closed at once however the generator ends, a cancelled upload included
        source.seek(offset)
        while left > 0 and (chunk := await anyio.to_thread.run_sync(source.read, min(READ_CHUNK, left))):
            left -= len(chunk)
            yield chunk


def _epoch(value: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time() + 300  # no usable expiry: keep it five minutes

"""A minimal fal storage that spends almost nothing per byte: what an uploader achieves when the server is not
the bottleneck. Answers the storage token, single and multipart uploads, and any GET; every body is read and
dropped. Given a rate, it reads at most that many bytes per second across all its connections (one token
bucket), like an uplink of that speed: an upload's answer comes once its last byte has passed the bucket.
Run as `python -m bench.sink [BYTES_PER_SECOND]`: prints its base URL, stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

READ = 1 << 20


class Link:
    """A token bucket shared by every connection: at most `rate` bytes a second pass, after a burst of READ."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._free_at = 0.0  # when the bucket has room again for the bytes taken so far

    async def take(self, size: int) -> None:
        if not self.rate:
            return
        now = asyncio.get_running_loop().time()
        self._free_at = max(self._free_at, now - READ / self.rate) + size / self.rate
        if self._free_at > now:
            await asyncio.sleep(self._free_at - now)


async def _body(reader: asyncio.StreamReader, headers: dict[str, str], link: Link) -> None:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await _skip(reader, size + 2, link)
        await reader.readuntil(b"\r\n")
    else:
        await _skip(reader, int(headers.get("content-length", "0")), link)


async def _skip(reader: asyncio.StreamReader, left: int, link: Link) -> None:
    while left > 0:
        chunk = await reader.read(min(left, READ))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", left)
        left -= len(chunk)
        await link.take(len(chunk))


def _answer(method: str, path: str, base: str) -> tuple[dict[str, Any], dict[str, str]]:
    if path.startswith("/storage/auth/token"):
        return {"token": secrets.token_hex(8), "token_type": "Bearer", "base_url": base, "expires_at": "2099-01-01T00:00:00Z"}, {}
    if path == "/files/upload":
        return {"access_url": f"{base}/files/{secrets.token_hex(8)}/upload.bin"}, {}
    if path == "/files/upload/multipart":
        return {"access_url": f"{base}/files/{secrets.token_hex(8)}/upload.bin", "uploadId": secrets.token_hex(8)}, {}
    if "/multipart/" in path and path.endswith("/complete"):
        return {"access_url": base + path.split("/multipart/")[0]}, {}
    if "/multipart/" in path:
        return {}, {"ETag": f'"{secrets.token_hex(8)}"'}
    return {}, {}


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
    host, port = writer.get_extra_info("sockname")[:2]
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
            await _body(reader, headers, link)
            body, extra = _answer(method, path, f"http://{host}:{port}")
            data = json.dumps(body).encode()
            lines = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(data)}"]
            lines += [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(rate: float | None = None) -> None:
    link = Link(rate)
    server = await asyncio.start_server(lambda r, w: _serve(r, w, link), "127.0.0.1", 0, limit=1 << 20)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else None))


@asynccontextmanager
async def running_sink(rate: float | None = None) -> AsyncIterator[str]:
    """The sink in its own process (so its work is not counted as anyone's), reading at most `rate` bytes a
    second in total if given; yields its base URL."""
    from bench.fal import serving

    async with serving("bench.sink", *([str(rate)] if rate else [])) as (url, _):
        yield url

"""The upload baselines, each run in its own process so that its memory and CPU are its own; each prints its
seconds, peak memory growth and the uploaded file's URL as JSON. Imports no MCP SDK (cheap to start).

`python -m bench.uploaders URL FILE`: fal's storage token, then one streamed httpx2 POST of the file in 1 MiB chunks.
`python -m bench.uploaders --fal-client URL FILE`: `fal_client.upload_file`, its three host constants pointed at URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench import proc

KEY = "bench-key-id:bench-key-secret"  # any key will do for the sandbox and the sink; the same as bench.launch.KEY
CHUNK = 1 << 20


async def _upload(url: str, file: Path) -> dict[str, object]:
    import httpx2

    async def chunks() -> AsyncIterator[bytes]:
        with file.open("rb") as source:
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                yield chunk

    async with httpx2.AsyncClient(timeout=120.0) as http:
        pid = os.getpid()
        proc.reset_peak(pid)
        start = proc.memory(pid)
        started = time.perf_counter()
        token = (await http.post(f"{url}/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={},
                                 headers={"Authorization": f"Key {KEY}"})).json()  # fmt: skip
        headers = {"Authorization": f"{token['token_type']} {token['token']}", "Content-Type": "video/mp4",
                   "X-Fal-File-Name": file.name, "Content-Length": str(file.stat().st_size)}  # fmt: skip
        answer = await http.post(f"{token['base_url']}/files/upload", content=chunks(), headers=headers)
        answer.raise_for_status()
        seconds = time.perf_counter() - started
        end = proc.memory(pid)
    growth = float(end.peak - start.rss) if start and end else float("nan")
    return {"seconds": seconds, "growth": growth, "url": answer.json()["access_url"]}


def _fal_client_upload(url: str, file: Path) -> dict[str, object]:
    import fal_client
    import fal_client.client

    # The three host constants fal's docs name (as tests/test_sandbox_fal_client.py sets them).
    fal_client.client.QUEUE_URL_FORMAT = url + "/"
    fal_client.client.REST_URL = url
    fal_client.client.CDN_URL = url
    client = fal_client.SyncClient(key=KEY)
    pid = os.getpid()
    proc.reset_peak(pid)
    start = proc.memory(pid)
    started = time.perf_counter()
    access_url = client.upload_file(file)
    seconds = time.perf_counter() - started
    end = proc.memory(pid)
    growth = float(end.peak - start.rss) if start and end else float("nan")
    return {"seconds": seconds, "growth": growth, "url": access_url}


if __name__ == "__main__":
    if sys.argv[1] == "--fal-client":
        print(json.dumps(_fal_client_upload(sys.argv[2], Path(sys.argv[3]))))
    else:
        print(json.dumps(asyncio.run(_upload(sys.argv[1], Path(sys.argv[2])))))

"""The embedded sandbox: one process per home hosts it; the others find it by the address it records."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2

from pika_mcp.errors import ConfigError
from pika_mcp.lockfile import FileLock

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
FIND_ATTEMPTS = 20  # another process holds the lock but has not written its address yet
FIND_DELAY = 0.25


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _recorded(state: Path) -> str | None:
    try:
        return str(json.loads((state / "address.json").read_text())["base_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@asynccontextmanager
async def embedded_sandbox(home: Path, http: httpx2.AsyncClient) -> AsyncIterator[str]:
    """Yield the base URL of this home's sandbox, hosting it here if no other process does."""
    state = home / "sandbox"
    lock = FileLock(state / "host.lock")
    if lock.acquire():
        try:
            from pika_mcp.sandbox import Sandbox, serve_sandbox

            previous = _recorded(state)
            port = int(previous.rsplit(":", 1)[1]) if previous else 0
            port = port if port and _port_free(port) else 0  # keep the address stable across restarts
            sandbox = Sandbox(state)
            try:
                async with serve_sandbox(sandbox, host=HOST, port=port) as base_url:
                    (state / "address.json").write_text(json.dumps({"base_url": base_url}))
                    log.info("embedded sandbox at %s (state in %s)", base_url, state)
                    yield base_url
            finally:
                sandbox.close()
        finally:
            lock.release()
        return
    for _ in range(FIND_ATTEMPTS):
        if (base_url := _recorded(state)) and await _alive(http, base_url):
            log.info("using the sandbox another pika-mcp process hosts at %s", base_url)
            yield base_url
            return
        await anyio.sleep(FIND_DELAY)
    raise ConfigError(f"Another pika-mcp process holds {state / 'host.lock'} but its sandbox does not answer.")


async def _alive(http: httpx2.AsyncClient, base_url: str) -> bool:
    try:
        return (await http.get(f"{base_url}/_sandbox/health", timeout=2.0)).status_code == 200
    except httpx2.HTTPError:
        return False

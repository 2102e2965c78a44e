"""The embedded sandbox: one process per home hosts it; the others find it by the address it records."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
from anyio.abc import TaskStatus

from pika_mcp.errors import ConfigError
from pika_mcp.lockfile import FileLock

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
FIND_ATTEMPTS = 20  # another process holds the lock but has not written its address yet
FIND_DELAY = 0.25
TAKEOVER_CHECK = 1.0  # seconds between checks that the hosting process is still there


def _port_free(port: int) -> bool:
    """Whether the sandbox can listen on `port` again. Like uvicorn, the probe reuses an address whose last
    connections linger in TIME_WAIT (POSIX): the sandbox of a process that just exited keeps its address, and the
    video URLs a model saw keep working (an agent framework may start a new server for every call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let two listeners share a port; TIME_WAIT does not block there
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
    """Yield the base URL of this home's sandbox, hosting it here if no other process does.

    A process that uses another's sandbox takes over hosting, on the same address, when that process ends.
    """
    state = home / "sandbox"
    lock = FileLock(state / "host.lock")
    stop = anyio.Event()  # stops the sandbox gracefully: uvicorn finishes its requests, then the state closes
    async with anyio.create_task_group() as tg:
        base_url = await _find(state, lock, http)
        if base_url is None:
            previous = _recorded(state)
            port = int(previous.rsplit(":", 1)[1]) if previous else 0
            port = port if port and _port_free(port) else 0  # keep the address stable across restarts
            base_url = await tg.start(_host, state, lock, port, stop)
        else:
            tg.start_soon(_take_over_when_free, state, lock, base_url, stop)
        try:
            yield base_url
        finally:
            stop.set()


async def _host(
    state: Path, lock: FileLock, port: int, stop: anyio.Event, *, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED
) -> None:
    from pika_mcp.sandbox import Sandbox, serve_sandbox

    sandbox = Sandbox(state)
    try:
        async with serve_sandbox(sandbox, host=HOST, port=port) as base_url:
            (state / "address.json").write_text(json.dumps({"base_url": base_url}))
            log.info("embedded sandbox at %s (state in %s)", base_url, state)
            task_status.started(base_url)
            await stop.wait()
    finally:
        sandbox.close()
        lock.release()


async def _find(state: Path, lock: FileLock, http: httpx2.AsyncClient) -> str | None:
    """None once this process holds the lock (it hosts); else the address of the live sandbox another one hosts.

    The host may be exiting (a client closed it) while this one starts: the lock then frees, and this one hosts."""
    for _ in range(FIND_ATTEMPTS):
        if lock.acquire():
            return None
        if (base_url := _recorded(state)) and await _alive(http, base_url):
            log.info("using the sandbox another pika-mcp process hosts at %s", base_url)
            return base_url
        await anyio.sleep(FIND_DELAY)
    raise ConfigError(f"Another pika-mcp process holds {state / 'host.lock'} but its sandbox does not answer.")


async def _take_over_when_free(state: Path, lock: FileLock, base_url: str, stop: anyio.Event) -> None:
    """The hosting process may exit first (its client closed): host the sandbox here, at the same address."""
    while not stop.is_set():
        if lock.acquire():
            try:
                await _host(state, lock, int(base_url.rsplit(":", 1)[1]), stop)
            except OSError as exc:
                log.error("could not take over the sandbox at %s: %s", base_url, exc)
            return
        with anyio.move_on_after(TAKEOVER_CHECK):
            await stop.wait()


async def _alive(http: httpx2.AsyncClient, base_url: str) -> bool:
    try:
        return (await http.get(f"{base_url}/_sandbox/health", timeout=2.0)).status_code == 200
    except httpx2.HTTPError:
        return False

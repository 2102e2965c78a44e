"""Servers for the fleet benchmark: `pika-mcp serve --http --stateless` processes on loopback, PostgreSQL peers or
a SQLite one, all against one fal (the sandbox), and clients that call them as the people of PIKA_MCP_TOKEN."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.fal import ROOT, bench_env, stop
from bench.launch import KEY

START_SECONDS = 60.0
STOP_SECONDS = 20.0
# The people the calls come from: each a token, so the per-person lock of a submit is not one lock for the fleet.
TOKENS = tuple(f"bench-person-{n}-{'0123456789abcdef' * 2}" for n in range(4))
# The SDK's client timeouts, as tests/test_http.py sets them: a call's stream may be quiet between progress notes.
CLIENT_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


@dataclass
class Peer:
    base: str
    process: asyncio.subprocess.Process
    peer_id: str | None  # its /healthz peer_id (None: SQLite)
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return self.base + "/mcp"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peer_env(folder: Path, fal_url: str, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in bench_env().items() if not k.startswith(("PIKA_MCP_", "FAL_"))}
    env |= {
        "PIKA_MCP_BACKEND": "fal", "FAL_KEY": KEY, "PIKA_MCP_QUEUE_URL": fal_url, "PIKA_MCP_REST_URL": fal_url,
        "PIKA_MCP_HOME": str(folder / "home"), "PIKA_MCP_OUTPUT_DIR": str(folder.parent / "videos"),
        "PIKA_MCP_TOKEN": ",".join(TOKENS), "PIKA_MCP_LOG_LEVEL": "WARNING", "PIKA_MCP_WAIT_SECONDS": "0",
    }  # fmt: skip
    if database_url is not None:
        env["PIKA_MCP_DATABASE_URL"] = database_url
    return env | extra


async def start_peer(folder: Path, fal_url: str, database_url: str | None, http: httpx2.AsyncClient, **extra: str) -> Peer:
    """A server process, once its /healthz answers."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = folder / "server.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pika_mcp", "serve", "--http", "--stateless", "--port", str(port),
            stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
            env=peer_env(folder, fal_url, database_url, **extra),
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server in {folder} did not start:\n{log.read_text()[-3000:]}")
        try:
            answer = await http.get(base + "/healthz", timeout=1.0)
            if answer.status_code == 200:
                return Peer(base, process, answer.json().get("peer_id"), log)
        except httpx2.HTTPError:
            pass
        await asyncio.sleep(0.1)


async def end_peer(peer: Peer) -> None:
    if peer.process.returncode is None:
        peer.process.send_signal(signal.SIGTERM)
    await stop(peer.process, STOP_SECONDS)


@asynccontextmanager
async def peers(
    folder: Path, fal_url: str, database_urls: list[str | None], **extra: str
) -> AsyncIterator[tuple[list[Peer], httpx2.AsyncClient]]:
    """Servers started side by side, one per database URL (None: SQLite in its own home); stopped on exit."""
    async with httpx2.AsyncClient(timeout=30.0) as http:
        started = await asyncio.gather(
            *(start_peer(folder / f"peer{n}", fal_url, url, http, **extra) for n, url in enumerate(database_urls)),
            return_exceptions=True,
        )
        running = [p for p in started if isinstance(p, Peer)]
        try:
            for failure in started:
                if isinstance(failure, BaseException):
                    raise failure
            yield running, http
        finally:
            await asyncio.gather(*(end_peer(p) for p in running))


@asynccontextmanager
async def clients(urls: list[str]) -> AsyncIterator[list[list[Client]]]:
    """For each server URL, one open client per person (TOKENS)."""
    async with AsyncExitStack() as stack:
        grid: list[list[Client]] = []
        for url in urls:
            row = []
            for token in TOKENS:
                http = await stack.enter_async_context(
                    httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=CLIENT_TIMEOUT)
                )
                row.append(await stack.enter_async_context(Client(streamable_http_client(url, http_client=http))))
            grid.append(row)
        yield grid


async def call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"{tool} failed: {result.content}")
    return dict(result.structured_content)

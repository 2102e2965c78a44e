"""Serving the sandbox with uvicorn: in-process on a free loopback port, or blocking for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from pika_mcp.sandbox.access import TOKEN_FILE, TOKEN_HEADER, write_address
from pika_mcp.sandbox.app import Sandbox
from pika_mcp.sandbox.config import SandboxConfig
from pika_mcp.sandbox.faults import ABORT_EXTENSION, abort_transport

# Long enough for a status stream to end cleanly, short enough that a stuck test fails fast.
GRACEFUL_SHUTDOWN_SECONDS = 5
STARTUP_TIMEOUT_SECONDS = 10.0
STARTUP_POLL_SECONDS = 0.005


class AbortableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus an ASGI extension that resets the request's connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            extensions = scope.get("extensions") or {}
            extensions[ABORT_EXTENSION] = lambda: abort_transport(transport)
            scope["extensions"] = extensions
            await inner(scope, receive, send)

        self.app = app


def _config(sandbox: Sandbox, log_level: str | None, access_log: bool) -> uvicorn.Config:
    return uvicorn.Config(
        sandbox.app,
        http=AbortableH11Protocol,
        ws="none",
        lifespan="on",
        log_config=None,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only then, else each answer waits on a delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@asynccontextmanager
async def serve_sandbox(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, log_level: str | None = None
) -> AsyncIterator[str]:
    """Serve `sandbox` with uvicorn in this event loop; yields its base URL, e.g. http://127.0.0.1:54321."""
    sock = _listen(host, port)
    server = uvicorn.Server(_config(sandbox, log_level, access_log=False))
    # In-process servers leave the host's signal handlers (pytest's, the MCP server's) alone.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    sandbox.stopping = False
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        with anyio.fail_after(STARTUP_TIMEOUT_SECONDS):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("The sandbox server stopped during startup.")
                await asyncio.sleep(STARTUP_POLL_SECONDS)
        yield _base_url(sock)
    finally:
        sandbox.stop()
        server.should_exit = True
        await task
        sock.close()


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 8766,
    state_dir: Path | None = None,
    config: SandboxConfig | None = None,
    access_log: bool = False,
    allowed_hosts: Iterable[str] = (),
) -> None:
    """Serve a sandbox until interrupted (the `pika-mcp sandbox` command); prints its URL and control token on stderr
    and records its address in the state folder, as the embedded sandbox does."""
    if state_dir is None:
        raise ValueError("Give run_sandbox a state_dir; the CLI passes PIKA_MCP_HOME's sandbox folder.")
    sandbox = Sandbox(state_dir, config, allowed_hosts=allowed_hosts)
    sock = _listen(host, port)
    server = uvicorn.Server(_config(sandbox, "warning", access_log))
    base_url = _base_url(sock)
    write_address(state_dir, base_url)
    print(f"pika-mcp sandbox serving fal's queue and storage API at {base_url}", file=sys.stderr)
    print(f"State (jobs and files) lives in {state_dir}.", file=sys.stderr)
    print(
        f"Control routes (/_sandbox/*) need the header {TOKEN_HEADER}: {sandbox.control_token} "
        f"(also in {state_dir / TOKEN_FILE}).",
        file=sys.stderr,
    )
    try:
        asyncio.run(_serve_until_exit(server, sandbox, sock))
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled; the stop was clean
        pass
    finally:
        sock.close()
        sandbox.close()


async def _serve_until_exit(server: uvicorn.Server, sandbox: Sandbox, sock: socket.socket) -> None:
    original = server.handle_exit

    def handle_exit(sig: int, frame: Any) -> None:
        sandbox.stop()
        original(sig, frame)

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    await server.serve(sockets=[sock])

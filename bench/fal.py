"""The fal the benchmarks talk to: pika-mcp's sandbox in its own process, so its work is not counted as ours.

Run as `python -m bench.fal STATE_DIR [VIDEO]`: serves on a free loopback port, prints the base URL on stdout,
and stops when stdin closes. Served by uvicorn on a TCP_NODELAY socket; the renderer copies the shipped preview (or
VIDEO, a video rendered beforehand), so a job finishes exactly at the end of its run time (rendering itself is
measured apart, in bench.render).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2

from pika_mcp.sandbox.remote import SandboxControl

ROOT = Path(__file__).resolve().parent.parent  # the repository, so `python -m bench.…` resolves
START_TIMEOUT = 30.0


def bench_env(**extra: str) -> dict[str, str]:
    """Environment for a bench subprocess: this interpreter's, with the repository importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env | extra


@dataclass
class Fal:
    url: str
    http: httpx2.AsyncClient
    pid: int
    control: SandboxControl  # its /_sandbox/* routes, with the token from its state folder

    async def configure(self, **switches: Any) -> None:
        await self.control.configure(**switches)

    async def reset(self) -> None:
        """Forget recorded requests and counts (jobs stay)."""
        await self.control.reset()

    async def received(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        return await self.control.received(timeout=120.0)

    async def status(self, status_url: str, logs: bool = False) -> dict[str, Any]:
        answer = await self.http.get(status_url, params={"logs": "1" if logs else "0"}, headers={"Authorization": "Key bench"})
        return dict(answer.json())

    async def finished_at(self, job_id: str) -> float:
        """When the sandbox completed the job (epoch seconds): the timestamp of its closing log line."""
        status = await self.status(f"{self.url}/fal-ai/pika/requests/{job_id}/status", logs=True)
        if status["status"] != "COMPLETED":
            raise RuntimeError(f"job {job_id} is not completed: {status['status']}")
        return datetime.fromisoformat(status["logs"][-1]["timestamp"]).timestamp()


@asynccontextmanager
async def running_fal(state_dir: Path, video: Path | None = None) -> AsyncIterator[Fal]:
    args = [str(state_dir), *([str(video)] if video else [])]
    async with serving("bench.fal", *args) as (url, pid), httpx2.AsyncClient(timeout=60.0) as http:
        yield Fal(url, http, pid, SandboxControl.of(state_dir, http, url))


@asynccontextmanager
async def serving(module: str, *args: str) -> AsyncIterator[tuple[str, int]]:
    """`python -m module args` in its own process: yields the base URL it prints and its pid; closing its
    stdin stops it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=bench_env(),
    )  # fmt: skip
    assert process.stdout is not None and process.stdin is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        if not line:
            raise RuntimeError(f"{module} exited before printing its URL")
        yield line.decode().strip(), process.pid
    finally:
        process.stdin.close()
        await stop(process, 15.0)


async def stop(process: asyncio.subprocess.Process, grace: float) -> None:
    """Wait for a process told to stop; kill it after `grace` seconds."""
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        process.kill()
        await process.wait()


def _listen() -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without
    # it every answer written in two parts (headers, body) waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _copy_video(video: Path, endpoint_id: str, body: dict[str, object], out_path: Path, fetch: object = None) -> None:
    """A renderer that hands out a video rendered beforehand."""
    shutil.copyfile(video, out_path)


async def _serve(state_dir: Path, video: Path | None) -> None:
    import uvicorn

    from pika_mcp.sandbox import Sandbox, SandboxConfig
    from pika_mcp.sandbox.preview import copy_preview

    renderer = copy_preview if video is None else functools.partial(_copy_video, video)
    sandbox = Sandbox(state_dir, SandboxConfig(queue_seconds=600.0, run_seconds=600.0), renderer=renderer)
    sock = _listen()
    config = uvicorn.Config(sandbox.app, lifespan="on", log_config=None, log_level="warning", access_log=False, ws="none")
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the sandbox server stopped during startup")
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()[:2]
    print(f"http://{host}:{port}", flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)  # until stdin closes
    finally:
        sandbox.stop()
        server.should_exit = True
        await task
        sock.close()
        sandbox.close()


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))

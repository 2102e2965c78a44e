"""How the benchmarks start servers: pika-mcp and the baselines over stdio, with the official client or raw pipes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mcp import StdioServerParameters

from bench.fal import ROOT, stop

KEY = "bench-key-id:bench-key-secret"
ENDPOINT = "fal-ai/pika/v2.2/text-to-video"
TOOL = "pika_v22_text_to_video"
LEGACY_VERSION = "2025-11-25"
ANSWER_TIMEOUT = 60.0


def pika_env(home: Path, fal_url: str | None, **extra: str) -> dict[str, str]:
    """pika-mcp's environment as tests/conftest.py sets it; fal_url None means the embedded sandbox."""
    env = {
        "PIKA_MCP_HOME": str(home / "home"),
        "PIKA_MCP_OUTPUT_DIR": str(home / "out"),
        "PIKA_MCP_ALLOWED_DIRS": str(home / "allowed"),
        "PIKA_MCP_LOG_LEVEL": "ERROR",
        "PIKA_MCP_WAIT_SECONDS": "0",
        "PYTHONPATH": str(ROOT),  # this repository's pika_mcp, whatever is installed
    }
    (home / "allowed").mkdir(parents=True, exist_ok=True)
    if fal_url is not None:
        env |= {"FAL_KEY": KEY, "PIKA_MCP_QUEUE_URL": fal_url, "PIKA_MCP_REST_URL": fal_url}
    return env | extra


def pika_params(home: Path, fal_url: str | None, **extra: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "pika_mcp"], env=pika_env(home, fal_url, **extra))


def submit_body(prompt: str) -> dict[str, Any]:
    """The body pika-mcp sends for this prompt, so the baseline POSTs the same bytes."""
    from pika_mcp import arguments
    from pika_mcp.catalog import BY_TOOL

    return arguments.parse(BY_TOOL[TOOL], {"prompt": prompt}).body()


def baseline_params(fal_url: str) -> StdioServerParameters:
    args = ["-m", "bench.baseline", "submit", f"{fal_url}/{ENDPOINT}", KEY, json.dumps(submit_body("x"))]
    return StdioServerParameters(command=sys.executable, args=args, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})


def hello_command() -> list[str]:
    return [sys.executable, "-m", "bench.baseline", "hello"]


def pika_command() -> list[str]:
    return [sys.executable, "-m", "pika_mcp"]


def _line(message: dict[str, Any]) -> bytes:
    return (json.dumps(message) + "\n").encode()


async def first_tools_list(command: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    """Seconds from process start to the first tools/list answer, and that answer's raw bytes.

    Raw pipes and a 2025-era handshake written at once: no client library on the measured path.
    """
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)} | env
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, cwd=ROOT, env=full_env, limit=16 * 1024 * 1024,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    init = {"protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}
    process.stdin.write(
        _line({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        + _line({"jsonrpc": "2.0", "method": "notifications/initialized"})
        + _line({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
    )
    await process.stdin.drain()
    try:
        while True:
            raw = await asyncio.wait_for(process.stdout.readline(), ANSWER_TIMEOUT)
            if not raw:
                raise RuntimeError(f"{' '.join(command)} exited before answering tools/list")
            if json.loads(raw).get("id") == 2:
                return time.perf_counter() - started, raw.rstrip(b"\n")
    finally:
        process.stdin.close()
        await stop(process, 10.0)

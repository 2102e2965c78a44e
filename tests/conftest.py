"""Shared fixtures: anyio on asyncio, a sandbox over loopback HTTP, settings and a server pointed at it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pika_mcp.retry import RetryPolicy
from pika_mcp.sandbox import Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox.preview import copy_preview
from pika_mcp.settings import Settings

TEST_KEY = "test-key-id:test-key-secret"
# The retry table's attempts and order, without its real waits.
FAST_RETRY = RetryPolicy(first_delay=0.01, max_delay=0.05)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclasses.dataclass
class Fal:
    """The sandbox as the fal our server talks to in a test."""

    sandbox: Sandbox
    url: str

    def sent(self, op: str) -> list:
        return [r for r in self.sandbox.received if r.op == op]

    def stored(self, url: str) -> Path:
        """The file on the sandbox's disk behind one of its /files/ URLs (a multipart upload's parts are joined
        just after it completes: wait for that)."""
        relative = "files/" + url.split("/files/", 1)[1]
        self.sandbox.files.wait_joined(relative)
        return self.sandbox.state_dir / relative


@pytest.fixture
async def fal(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Fal]:
    """The sandbox; its video is the fixed preview unless the test is marked `render` (real renders take ~1 s)."""
    renderer = None if request.node.get_closest_marker("render") else copy_preview
    sandbox = Sandbox(tmp_path / "fal-state", SandboxConfig(queue_seconds=0.3, run_seconds=0.3), renderer=renderer)
    try:
        async with serve_sandbox(sandbox, host="127.0.0.1", port=0) as url:
            yield Fal(sandbox, url)
    finally:
        sandbox.close()


def make_settings(tmp_path: Path, url: str, **changes: object) -> Settings:
    allowed = tmp_path / "allowed"
    allowed.mkdir(exist_ok=True)
    env = {
        "FAL_KEY": TEST_KEY,
        "PIKA_MCP_QUEUE_URL": url,
        "PIKA_MCP_REST_URL": url,
        "PIKA_MCP_HOME": str(tmp_path / "home"),
        "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out"),
        "PIKA_MCP_ALLOWED_DIRS": str(allowed),
        "PIKA_MCP_WAIT_SECONDS": "0",
    }
    return dataclasses.replace(Settings.from_env(env), **changes)


@pytest.fixture
def settings(tmp_path: Path, fal: Fal) -> Settings:
    return make_settings(tmp_path, fal.url)

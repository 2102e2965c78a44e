"""Shared fixtures and helpers: anyio on asyncio, a sandbox over loopback HTTP, settings pointed at it, the tool names
from the catalog, and reading or awaiting a job through the MCP client."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from pika_mcp.ledger import Ledger
from pika_mcp.retry import RetryPolicy
from pika_mcp.sandbox import Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox.preview import copy_preview
from pika_mcp.settings import Settings
from pika_mcp.store import Store
from tests.pgdb import pg_store

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


# -- the tools -------------------------------------------------------------------------------------

# The tool names the README's tool table fixes for users: the server lists each of them (and may list more, one per
# endpoint the catalog adds). Tests take the full list from the catalog, never from a count.
DESIGN_TOOL_NAMES = frozenset({
    "pika_v22_text_to_video", "pika_v22_image_to_video", "pika_v22_pikascenes", "pika_v22_pikaframes",
    "pika_v21_text_to_video", "pika_v21_image_to_video", "pika_v2_turbo_text_to_video", "pika_v2_turbo_image_to_video",
    "pika_v2_pikaswaps", "pika_v2_pikadditions", "pika_v15_pikaffects",
    "pika_get_job", "pika_wait_for_job", "pika_cancel_job", "pika_list_jobs", "pika_upload_file",
})  # fmt: skip
JOB_TOOL_NAMES = frozenset({"pika_get_job", "pika_wait_for_job", "pika_cancel_job", "pika_list_jobs", "pika_upload_file"})


def generation_tools() -> frozenset[str]:
    """One tool per endpoint in the catalog."""
    from pika_mcp.catalog import ENDPOINTS

    return frozenset(e.tool for e in ENDPOINTS)


def all_tools() -> frozenset[str]:
    """Every tool the server lists with no PIKA_MCP_TOOLS filter."""
    return generation_tools() | JOB_TOOL_NAMES


# -- reading results ---------------------------------------------------------------------------------


def view(result: Any) -> dict[str, Any]:
    """The structured content of a tool result that must not be a refusal."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def read_json(client: Any, uri: str) -> Any:
    """A JSON resource (pika://jobs, pika://jobs/{id}) as the client reads it."""
    from mcp_types import TextResourceContents

    contents = (await client.read_resource(uri)).contents
    assert isinstance(contents[0], TextResourceContents)
    return json.loads(contents[0].text)


async def final(client: Any, job_id: str, seconds: float = 60) -> dict[str, Any]:
    """The job once its final status is recorded (for a success, once its video is saved), by waiting on it with
    pika_wait_for_job, which returns as soon as that happens; `seconds` only guards against a hang."""
    from pika_mcp.job import FINAL

    with anyio.fail_after(seconds):
        while True:
            job = view(await client.call_tool("pika_wait_for_job", {"job_id": job_id, "timeout_seconds": int(seconds)}))
            if job["status"] in FINAL:
                return job


# Every store implementation, made in a folder: the contract suite (test_store_contract) and the PostgreSQL tests
# run each test once per store through the `store` fixture; a new store adds one factory here.
STORES: dict[str, Callable[[Path], Store]] = {
    "sqlite": lambda folder: Ledger(folder / "jobs.sqlite3"),
    "postgresql": pg_store,  # type: ignore[dict-item]  (skips, or fails under CI=true, without a database)
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = STORES[request.param](tmp_path)
    try:
        yield opened
    finally:
        opened.close()

"""`serve --http` from outside: tokens, Host/Origin checks, /healthz, the official client, and people kept apart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import ResourceUpdatedNotification

from pika_mcp import __version__
from pika_mcp.owners import owner_id
from pika_mcp.server.http import StaticTokens, transport_security
from pika_mcp.settings import Settings

TOKEN_A = "token-for-alice-0123456789abcdef"
TOKEN_B = "token-for-bob-fedcba9876543210-0000"
STARTUP_SECONDS = 90.0  # a deadline against a hang: three peers starting at once on a busy 2-core machine are slow
SHUTDOWN_SECONDS = 20.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The test's environment minus anything that could point the server at real fal or real folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIKA_MCP_", "FAL_"))}
    env |= {"PIKA_MCP_BACKEND": "sandbox", "PIKA_MCP_HOME": str(tmp / "home"), "PIKA_MCP_OUTPUT_DIR": str(tmp / "videos")}
    return env | extra


@dataclass
class Served:
    url: str
    base: str
    proc: subprocess.Popen[bytes]
    log: Path


@asynccontextmanager
async def person(url: str, token: str, mode: str = "auto", message_handler: Any = None) -> AsyncIterator[Client]:
    # The SDK's own client timeouts: a call's response stream stays open between progress notifications
    # (every 5 s), so httpx2's default 5 s read timeout would cut it under load.
    timeout = httpx2.Timeout(30.0, read=300.0)
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, message_handler=message_handler) as client:  # type: ignore[arg-type]
            yield client


def start_server(tmp: Path, *flags: str, **env: str) -> Served:
    port = free_port()
    log = tmp / f"server-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pika_mcp", "serve", "--http", "--port", str(port), *flags],
            env=clean_env(tmp, **env), stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:  # readiness poll: /healthz answers 200 once the runtime (ledger, sandbox) is up
        assert proc.poll() is None, log.read_text()
        try:
            if httpx2.get(base + "/healthz", timeout=1.0).status_code == 200:
                break
        except httpx2.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return Served(base + "/mcp", base, proc, log)


def stop_server(served: Served, sig: int = signal.SIGINT) -> int:
    """Stop it as a person (Ctrl-C) or a supervisor (SIGTERM) would; a graceful stop exits 0 and says so."""
    served.proc.send_signal(sig)
    code = served.proc.wait(timeout=SHUTDOWN_SECONDS)
    assert "HTTP server stopped" in served.log.read_text()
    return code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("http")
    served = start_server(tmp, PIKA_MCP_TOKEN=f"{TOKEN_A}, {TOKEN_B}")
    yield served
    assert stop_server(served) == 0, served.log.read_text()
    log = served.log.read_text()
    assert TOKEN_A not in log and TOKEN_B not in log


def test_healthz_answers_200_with_version_and_backend_without_a_token(server: Served) -> None:
    r = httpx2.get(server.base + "/healthz")
    assert r.status_code == 200
    assert r.json()["version"] == __version__ and r.json()["backend"] == "sandbox"


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN_A}", f"Bearer {TOKEN_A}x"])
def test_mcp_without_a_valid_token_is_401_with_a_json_error(server: Served, authorization: str | None) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if authorization:
        headers["Authorization"] = authorization
    r = httpx2.post(server.url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_foreign_origin_is_403_and_foreign_host_421_even_with_a_token(server: Served) -> None:
    headers = {
        "Authorization": f"Bearer {TOKEN_A}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert httpx2.post(server.url, headers=headers | {"Origin": "http://evil.example"}, json=body).status_code == 403
    assert httpx2.post(server.url, headers=headers | {"Host": "evil.example"}, json=body).status_code == 421


@pytest.mark.anyio
@pytest.mark.parametrize("token", [TOKEN_A, TOKEN_B])
async def test_the_official_client_works_with_each_token(server: Served, token: str) -> None:
    async with person(server.url, token) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert {"pika_v22_text_to_video", "pika_get_job", "pika_list_jobs"} <= names


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.filterwarnings("ignore:resources/subscribe is removed:mcp.shared.exceptions.MCPDeprecationWarning")
async def test_one_person_cannot_get_cancel_list_or_read_anothers_job(server: Served, mode: str) -> None:
    async with person(server.url, TOKEN_A, mode) as alice, person(server.url, TOKEN_B, mode) as bob:
        made = await alice.call_tool("pika_v21_text_to_video", {"prompt": f"a lighthouse ({mode})", "wait_seconds": 0})
        assert not made.is_error and made.structured_content is not None
        job_id = made.structured_content["job_id"]
        uri = f"pika://jobs/{job_id}"

        for tool in ("pika_get_job", "pika_cancel_job", "pika_wait_for_job"):
            args = {"job_id": job_id} | ({"timeout_seconds": 0} if tool == "pika_wait_for_job" else {})
            seen = await bob.call_tool(tool, args)
            assert seen.is_error, tool
            assert job_id not in str(seen.structured_content or "")
        listed = await bob.call_tool("pika_list_jobs", {})
        assert job_id not in {j["job_id"] for j in listed.structured_content["jobs"]}  # type: ignore[index]
        with pytest.raises(MCPError):
            await bob.read_resource(uri)

        mine = await alice.call_tool("pika_get_job", {"job_id": job_id})
        assert not mine.is_error and mine.structured_content["job_id"] == job_id  # type: ignore[index]
        assert job_id in (await alice.read_resource(uri)).contents[0].text  # type: ignore[union-attr]
        listed = await alice.call_tool("pika_list_jobs", {})
        assert job_id in {j["job_id"] for j in listed.structured_content["jobs"]}  # type: ignore[index]

        if mode == "auto":  # 2026-era subscriptions: bob cannot listen to alice's job; pika://jobs is his own list
            async with bob.listen(resource_subscriptions=[uri, "pika://jobs"]) as sub:
                assert sub.honored.resource_subscriptions == ["pika://jobs"]
            async with alice.listen(resource_subscriptions=[uri]) as sub:
                assert sub.honored.resource_subscriptions == [uri]
        else:
            with pytest.raises(MCPError):
                await bob.subscribe_resource(uri)


@pytest.mark.anyio
@pytest.mark.parametrize("era", ["2026", "2025"])
@pytest.mark.filterwarnings("ignore:resources/subscribe is removed:mcp.shared.exceptions.MCPDeprecationWarning")
async def test_each_person_hears_only_their_own_job_list_change(server: Served, era: str) -> None:
    heard: dict[str, list[str]] = {"alice": [], "bob": []}
    alice_heard, bob_heard = anyio.Event(), anyio.Event()

    def recorder(who: str) -> Any:
        async def on_message(message: Any) -> None:
            if isinstance(message, ResourceUpdatedNotification) and message.params.uri == "pika://jobs":
                heard[who].append(message.params.uri)
                (alice_heard if who == "alice" else bob_heard).set()

        return on_message

    mode = "legacy" if era == "2025" else "auto"
    async with (
        person(server.url, TOKEN_A, mode, message_handler=recorder("alice")) as alice,
        person(server.url, TOKEN_B, mode, message_handler=recorder("bob")) as bob,
        anyio.create_task_group() as tg,
    ):
        if era == "2025":
            await alice.subscribe_resource("pika://jobs")
            await bob.subscribe_resource("pika://jobs")
        else:
            for client, who in ((alice, "alice"), (bob, "bob")):
                ready = anyio.Event()

                async def listen(client: Client = client, who: str = who, ready: anyio.Event = ready) -> None:
                    async with client.listen(resource_subscriptions=["pika://jobs"]) as sub:
                        ready.set()
                        async for event in sub:
                            heard[who].append(getattr(event, "uri", ""))
                            (alice_heard if who == "alice" else bob_heard).set()

                tg.start_soon(listen)
                await ready.wait()
        made = await alice.call_tool("pika_v2_turbo_text_to_video", {"prompt": f"only alice hears ({era})", "wait_seconds": 60})
        assert made.structured_content is not None and made.structured_content["status"] == "succeeded"
        with anyio.fail_after(30):
            await alice_heard.wait()
        assert heard["bob"] == []  # alice's whole job, saved and all, and bob heard nothing of it
        mine = await bob.call_tool("pika_v2_turbo_text_to_video", {"prompt": f"bob's own ({era})", "wait_seconds": 60})
        assert mine.structured_content is not None
        with anyio.fail_after(30):
            await bob_heard.wait()
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_progress_reaches_an_http_client_while_the_job_runs(server: Served) -> None:
    progress: list[str] = []

    async def record(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with person(server.url, TOKEN_B) as bob:
        result = await bob.call_tool(
            "pika_v2_turbo_text_to_video", {"prompt": "a paper boat", "wait_seconds": 60}, progress_callback=record
        )
    assert result.structured_content is not None and result.structured_content["status"] == "succeeded"
    assert progress


@pytest.mark.anyio
async def test_local_paths_are_refused_over_http_without_allowed_dirs(server: Served, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    async with person(server.url, TOKEN_A) as alice:
        result = await alice.call_tool("pika_upload_file", {"path": str(image)})
    assert result.is_error


@pytest.mark.anyio
async def test_stateless_mode_serves_a_sessionless_legacy_client(tmp_path: Path) -> None:
    served = start_server(tmp_path, "--stateless")
    try:
        async with Client(served.url, mode="legacy") as client:
            resources = client.server_capabilities.resources
            assert resources is not None and not resources.subscribe  # no session to notify on
            assert len((await client.list_tools()).tools) >= 16
            unknown = await client.call_tool("pika_get_job", {"job_id": "no-such-job"})
            assert unknown.is_error
    finally:
        assert stop_server(served, signal.SIGTERM) == 0, served.log.read_text()


def test_binding_all_interfaces_without_a_token_fails_naming_the_token(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pika_mcp", "serve", "--http", "--host", "0.0.0.0", "--port", str(free_port())],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "PIKA_MCP_TOKEN" in done.stderr


@pytest.mark.anyio
async def test_tokens_are_checked_against_every_known_token() -> None:
    key = bytes(range(32))
    tokens = StaticTokens((TOKEN_A, TOKEN_B), key)
    a, b = await tokens.verify_token(TOKEN_A), await tokens.verify_token(TOKEN_B)
    assert a is not None and b is not None and a.client_id == owner_id(key, TOKEN_A) != b.client_id
    assert TOKEN_A not in a.client_id
    assert await tokens.verify_token(TOKEN_A[:-1]) is None
    assert await tokens.verify_token("") is None


def test_allowed_hosts_extend_the_host_and_origin_checks() -> None:
    settings = Settings.from_env({"PIKA_MCP_ALLOWED_HOSTS": "video.example.com, https://proxy.example.org:8443"})
    security = transport_security(settings, "0.0.0.0")
    assert {"127.0.0.1:*", "localhost:*", "video.example.com", "video.example.com:*", "proxy.example.org:8443"} <= set(
        security.allowed_hosts
    )
    assert {"https://video.example.com", "https://proxy.example.org:8443", "http://localhost:*"} <= set(security.allowed_origins)
    assert not any("0.0.0.0" in h for h in security.allowed_hosts)


@pytest.mark.anyio
async def test_the_server_state_is_starting_until_its_runtime_is_up(settings: Settings) -> None:
    """What /healthz reports: `starting` while the runtime (ledger, embedded sandbox) comes up, then `ready`."""
    from contextlib import asynccontextmanager

    import anyio

    from pika_mcp import runtime
    from pika_mcp.server import build_server

    go = anyio.Event()

    @asynccontextmanager
    async def slow_start() -> AsyncIterator[runtime.Runtime]:
        await go.wait()
        async with runtime.start(settings) as started:
            yield started

    server = build_server(settings, slow_start)
    async with Client(server.mcp) as client:
        assert len((await client.list_tools()).tools) >= 16  # the tools are listed while the runtime starts
        assert server.state == "starting"
        go.set()
        assert not (await client.call_tool("pika_list_jobs", {})).is_error
        assert server.state == "ready"


def test_healthz_is_503_failed_when_the_runtime_could_not_start(tmp_path: Path) -> None:
    """A home whose sandbox folder is a file: the server runs, but says it cannot serve tool calls."""
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "sandbox").write_text("not a folder")
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "pika_mcp", "serve", "--http", "--port", str(port)],
                                env=clean_env(tmp_path), stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                answer = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                if answer.json()["status"] != "starting":
                    break
            except httpx2.HTTPError:
                pass
            time.sleep(0.05)
        assert answer.status_code == 503 and answer.json()["status"] == "failed", answer.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(SHUTDOWN_SECONDS)

"""The sandbox answers only its own Host, changes its switches only for callers with its token and JSON, and records
no credential; the token is made once per state folder."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest

from pika_mcp.sandbox import Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox import app as sandbox_app
from pika_mcp.sandbox.access import TOKEN_HEADER
from pika_mcp.sandbox.preview import copy_preview
from pika_mcp.sandbox.record import fingerprint
from pika_mcp.sandbox.remote import SandboxControl

pytestmark = pytest.mark.anyio

T2V = "/fal-ai/pika/v2.2/text-to-video"
SECRET_KEY = "key-id-1234:key-secret-abcdefgh"
CONTROL = [("GET", "requests"), ("GET", "jobs"), ("GET", "config"), ("POST", "config"), ("POST", "faults"), ("POST", "reset")]
Served = tuple[Sandbox, str, httpx2.AsyncClient]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    sandbox = Sandbox(
        tmp_path / "sandbox", SandboxConfig(queue_seconds=60), renderer=copy_preview, allowed_hosts=["pika.lan", "box.lan:9000"]
    )
    async with serve_sandbox(sandbox) as base, httpx2.AsyncClient(base_url=base, timeout=60) as http:
        yield sandbox, base, http
    sandbox.close()


@pytest.mark.parametrize(("method", "route"), CONTROL)
@pytest.mark.parametrize("token", [None, "wrong", ""])
async def test_control_routes_refuse_a_caller_without_the_token(
    served: Served, method: str, route: str, token: str | None
) -> None:
    sandbox, _, http = served
    headers = {} if token is None else {TOKEN_HEADER: token}
    answer = await http.request(
        method, f"/_sandbox/{route}", json={"queue_seconds": 0} if method == "POST" else None, headers=headers
    )
    assert answer.status_code == 401 and TOKEN_HEADER in answer.json()["detail"]
    assert sandbox.config.queue_seconds == 60


async def test_health_needs_no_token_and_the_token_opens_every_control_route(served: Served) -> None:
    sandbox, _, http = served
    assert (await http.get("/_sandbox/health")).json()["status"] == "ok"
    for method, route in CONTROL:
        body = {"op": "submit"} if route == "faults" else {}
        answer = await http.request(method, f"/_sandbox/{route}", json=body, headers={TOKEN_HEADER: sandbox.control_token})
        assert answer.status_code == 200, (route, answer.text)


@pytest.mark.parametrize(
    "content", [{"content": '{"queue_seconds": 0}', "headers": {"Content-Type": "text/plain"}}, {"data": {"queue_seconds": "0"}}],
    ids=["text/plain", "form"],
)  # fmt: skip
async def test_control_posts_a_cross_site_page_could_send_are_refused(served: Served, content: dict) -> None:
    sandbox, _, http = served
    headers = {TOKEN_HEADER: sandbox.control_token} | content.pop("headers", {})
    answer = await http.post("/_sandbox/config", headers=headers, **content)
    assert answer.status_code == 415 and "JSON" in answer.json()["detail"]
    assert sandbox.config.queue_seconds == 60


@pytest.mark.parametrize("path", ["/_sandbox/health", T2V, "/files/abc/x.png", "/storage/auth/token", "/_sandbox/requests"])
async def test_a_foreign_host_is_refused_on_every_route(served: Served, path: str) -> None:
    sandbox, base, http = served
    port = base.rsplit(":", 1)[1]
    headers = {"Host": f"attacker.example:{port}", "Authorization": "Key k", TOKEN_HEADER: sandbox.control_token}
    answer = await http.post(path, json={"prompt": "a cat"}, headers=headers)
    assert answer.status_code == 421 and "PIKA_MCP_ALLOWED_HOSTS" in answer.json()["detail"]
    assert sandbox.received == [] and sandbox.job_ids() == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "pika.lan", "PIKA.lan:{port}", "box.lan:9000"])
async def test_loopback_names_and_allowed_hosts_are_answered(served: Served, host: str) -> None:
    _, base, http = served
    answer = await http.get("/_sandbox/health", headers={"Host": host.format(port=base.rsplit(":", 1)[1])})
    assert answer.status_code == 200


async def test_an_allowed_host_with_a_port_allows_only_that_port(served: Served) -> None:
    _, _, http = served
    assert (await http.get("/_sandbox/health", headers={"Host": "box.lan:9001"})).status_code == 421


async def test_no_route_records_a_credential_only_its_scheme_and_fingerprint(served: Served) -> None:
    sandbox, _, http = served
    control = SandboxControl.of(sandbox.state_dir, http, str(http.base_url))
    await http.post(
        T2V, json={"prompt": "a cat"}, headers={"Authorization": f"Key {SECRET_KEY}", TOKEN_HEADER: sandbox.control_token}
    )
    storage = (await http.post("/storage/auth/token", headers={"Authorization": f"Key {SECRET_KEY}"})).json()["token"]
    await http.post("/files/upload", content=b"x", headers={"Authorization": f"Bearer {storage}"})
    other = await http.post(T2V, json={"prompt": "a dog"}, headers={"Authorization": "Key another-key"})
    assert other.status_code == 200

    recorded, _ = await control.received()
    text = json.dumps(recorded)
    assert SECRET_KEY not in text and storage not in text and sandbox.control_token not in text
    sent = [r["headers"].get("authorization") for r in recorded]
    assert sent == [
        fingerprint(f"Key {SECRET_KEY}"),
        fingerprint(f"Key {SECRET_KEY}"),
        fingerprint(f"Bearer {storage}"),
        fingerprint("Key another-key"),
    ]
    assert sent[0].startswith("Key sha256:") and sent[0] != sent[3]
    assert recorded[0]["headers"][TOKEN_HEADER.lower()] == fingerprint(sandbox.control_token)


async def test_the_request_log_keeps_only_the_most_recent_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_app, "MAX_RECORDED_REQUESTS", 3)
    sandbox = Sandbox(tmp_path, renderer=copy_preview)
    transport = httpx2.ASGITransport(app=sandbox.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox", headers={"Authorization": "Key k"}) as http:
        for n in range(5):
            await http.get(f"/fal-ai/pika/requests/no-such-{n}/status")
    sandbox.close()
    assert [r.path.rsplit("/", 2)[1] for r in sandbox.received] == ["no-such-2", "no-such-3", "no-such-4"]
    assert sandbox.counts["status"] == 5


def test_the_request_log_has_a_bound() -> None:
    assert 1_000 <= sandbox_app.MAX_RECORDED_REQUESTS <= 100_000


def test_the_token_is_made_once_per_state_folder_and_kept_across_restarts(tmp_path: Path) -> None:
    first = Sandbox(tmp_path / "a", renderer=copy_preview)
    first.close()
    again = Sandbox(tmp_path / "a", renderer=copy_preview)
    again.close()
    elsewhere = Sandbox(tmp_path / "b", renderer=copy_preview)
    elsewhere.close()
    assert first.control_token == again.control_token != elsewhere.control_token
    assert len(first.control_token) >= 32
    path = tmp_path / "a" / "control-token"
    assert path.read_text() == first.control_token  # the token alone
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "a").iterdir() if p.name.startswith(".control-token")] == []


async def test_pika_mcp_sandbox_prints_its_token_and_records_its_address_in_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"PATH": os.environ.get("PATH", ""), "PIKA_MCP_HOME": str(home), "PIKA_MCP_BACKEND": "sandbox"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pika_mcp", "sandbox", "--port", "0"], env=env, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )  # fmt: skip
    assert process.stderr is not None
    try:
        lines = []
        with anyio.fail_after(60):
            while not any(TOKEN_HEADER in line for line in lines):
                line = await anyio.to_thread.run_sync(process.stderr.readline)
                assert line, "".join(lines)
                lines.append(line)
        state = home / "sandbox"
        token = (state / "control-token").read_text()
        assert token in lines[-1]
        async with httpx2.AsyncClient(timeout=60) as http:
            control = SandboxControl.of(state, http)
            assert control.url in "".join(lines)
            assert (await control.configure(run_seconds=1.5))["run_seconds"] == 1.5
            assert (await http.get(f"{control.url}/_sandbox/config")).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=60)
        process.stderr.close()

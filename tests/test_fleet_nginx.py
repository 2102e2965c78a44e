"""The README's nginx configuration, run as written: Debian's nginx in the foreground before three `serve --http
--stateless` peers on one PostgreSQL database and one fal (the sandbox over loopback). Through it a 2026-era client
makes a job, hears it on a subscription and waits until it is saved; a 2025-era client calls, reads and hears
progress; /healthz answers; and the calls are spread over more than one peer. The README's sticky variant (peers
without --stateless, `ip_hash;` for `least_conn;`) keeps a 2025-era session and its subscription on one peer.

The block between `<!-- nginx-fleet -->` and `<!-- /nginx-fleet -->` in README.md is what runs: its three `server`
lines become the peers' loopback addresses and its `listen` port a free loopback port; the test wraps it in a main
configuration of its own (prefix, logs and temporary folders in tmp_path). Without nginx or the database these tests
skip with the reason; under CI=true they fail instead (scripts/nginx-setup installs nginx, scripts/pg-cluster starts the
database)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp_types import ResourceUpdatedNotification

from tests.conftest import Fal
from tests.test_fleet_processes import TOOL, call_on, start_peers, stop
from tests.test_http import TOKEN_A, free_port, person

pytestmark = pytest.mark.anyio
README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- nginx-fleet -->", "<!-- /nginx-fleet -->"
STARTUP_SECONDS = 60.0
CALL_SECONDS = 120.0  # a deadline against a hang on a busy machine, never a measure of speed
# The test's own access log: which peer answered each request.
LOG_FORMAT = "log_format fleet '$request_method $uri $status $upstream_addr';"


def nginx_program() -> str:
    """Debian's nginx (scripts/nginx-setup installs it): skipped without it, failed under CI=true."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found:
        return found
    reason = "needs nginx (apt-get install nginx, or run scripts/nginx-setup)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; under CI=true a missing nginx is a failure")
    pytest.skip(reason)


def readme_block() -> str:
    """The nginx configuration the README shows, without its code fence."""
    text = README.read_text(encoding="utf-8")
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return "\n".join(line for line in block.strip().splitlines() if not line.startswith("```"))


def for_the_test(block: str, peers: list[str], port: int) -> str:
    """The README's block with its three `server HOST:PORT` lines pointed at the peers and its `listen` at `port`."""
    servers = re.findall(r"^\s*server\s+\S+:\d+", block, flags=re.M)
    assert len(servers) == len(peers) == 3, servers
    addresses = iter(peers)
    block = re.sub(r"^(\s*server\s+)\S+:\d+", lambda m: m.group(1) + next(addresses), block, flags=re.M)
    block, listens = re.subn(r"^(\s*listen\s+)\d+;", rf"\g<1>127.0.0.1:{port};", block, flags=re.M)
    assert listens == 1, block
    return block


def main_conf(folder: Path, block: str) -> str:
    """A main configuration around the README's block: everything nginx writes stays in `folder`."""
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # As root, nginx's workers switch to `nobody`, who cannot enter pytest's private tmp_path.
    user = "user root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} info;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n    {LOG_FORMAT}\n    access_log {folder / 'access.log'} fleet;\n"
        f"{temp}\n{block}\n}}\n"
    )


def start_nginx(folder: Path, block: str, port: int) -> subprocess.Popen[bytes]:
    """nginx in the foreground (its own prefix, no daemon), once its loopback port accepts connections."""
    program = nginx_program()
    folder.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(main_conf(folder, block))
    command = [program, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log"), "-g", "daemon off;"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while True:
            assert proc.poll() is None, (folder / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                return proc
            except OSError:
                assert time.monotonic() < deadline, (folder / "error.log").read_text()
                time.sleep(0.05)
    except BaseException:
        stop_nginx(proc)
        raise


def stop_nginx(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # a fast shutdown: the master ends its workers
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(20)


def answered_by(folder: Path) -> list[tuple[str, str, int, str]]:
    """(method, path, status, peer) for each request in nginx's access log."""
    rows = []
    for line in (folder / "access.log").read_text().splitlines():
        method, path, status, upstream = line.split(" ", 3)
        rows.append((method, path, int(status), upstream))
    return rows


async def test_the_readmes_nginx_configuration_serves_both_eras_from_three_stateless_peers(tmp_path: Path, fal: Fal) -> None:
    nginx_program()  # skip (or fail under CI) before starting anything
    fal.sandbox.config.queue_seconds, fal.sandbox.config.run_seconds = 1.0, 1.0
    peers = await start_peers(tmp_path, fal)
    folder, port = tmp_path / "nginx", free_port()
    addresses = [p.base.removeprefix("http://") for p in peers]
    base, proc = f"http://127.0.0.1:{port}", None
    try:
        proc = await anyio.to_thread.run_sync(start_nginx, folder, for_the_test(readme_block(), addresses, port), port)
        async with httpx2.AsyncClient(timeout=CALL_SECONDS) as http:
            health = [await http.get(base + "/healthz") for _ in range(6)]
        assert all(h.status_code == 200 and h.json()["ledger"] == "postgresql" for h in health), [h.text for h in health]
        assert len({h.json()["peer_id"] for h in health}) > 1  # nginx spreads requests, and each peer names itself

        with anyio.fail_after(CALL_SECONDS):
            made, final, heard = await modern_client_makes_and_waits(base + "/mcp")
        assert final["status"] == "succeeded", final
        assert Path(final["video"]["local_path"]).is_file()
        assert heard  # a subscription stream through nginx carried the job's updates

        with anyio.fail_after(CALL_SECONDS):
            await legacy_client_calls_and_reads(base + "/mcp", made["job_id"])

        rows = answered_by(folder)
        posts = [peer for method, path, _, peer in rows if method == "POST" and path == "/mcp"]
        assert len(set(posts)) > 1, rows  # calls went to more than one peer
        assert set(posts) <= set(addresses), rows
    finally:
        if proc is not None:
            stop_nginx(proc)
        stop(peers)


async def modern_client_makes_and_waits(url: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A 2026-era client: a job, a subscription to it, and waits until it is final (asking again on a busy machine)."""
    heard: list[str] = []
    async with person(url, TOKEN_A) as client:
        assert client.protocol_version.startswith("2026")
        made = (await client.call_tool(TOOL, {"prompt": "through nginx", "wait_seconds": 0})).structured_content
        assert made is not None and made["status"] in ("queued", "running"), made
        async with anyio.create_task_group() as tg:
            listening, updated = anyio.Event(), anyio.Event()

            async def listen() -> None:
                async with client.listen(resource_subscriptions=[made["resource_uri"]]) as sub:
                    listening.set()
                    async for event in sub:
                        heard.append(getattr(event, "uri", ""))
                        updated.set()

            tg.start_soon(listen)
            await listening.wait()
            final = made
            while final["status"] != "succeeded" and not final["error"]:
                answer = await client.call_tool("pika_wait_for_job", {"job_id": made["job_id"], "timeout_seconds": 60})
                final = answer.structured_content or {}
            await updated.wait()  # an update may trail the wait's answer (the caller's fail_after bounds this)
            tg.cancel_scope.cancel()
    return made, final, heard


async def legacy_client_calls_and_reads(url: str, job_id: str) -> None:
    """A 2025-era client without a session: reads the job, and a new call's progress reaches it through nginx."""
    progress: list[float] = []

    async def record(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with person(url, TOKEN_A, "legacy") as client:
        assert client.protocol_version.startswith("2025")
        assert not client.server_capabilities.resources or not client.server_capabilities.resources.subscribe
        seen = (await client.call_tool("pika_get_job", {"job_id": job_id})).structured_content
        assert seen is not None and seen["status"] == "succeeded"
        assert job_id in (await client.read_resource(f"pika://jobs/{job_id}")).contents[0].text  # type: ignore[union-attr]
        args = {"prompt": "a 2025-era call through nginx", "wait_seconds": 60}
        made = (await client.call_tool(TOOL, args, progress_callback=record)).structured_content
        assert made is not None and made["status"] in ("running", "succeeded"), made
    assert progress


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed:mcp.shared.exceptions.MCPDeprecationWarning")
async def test_2025_era_subscriptions_hold_with_stateful_peers_and_ip_hash_in_the_readmes_place(tmp_path: Path, fal: Fal) -> None:
    """What the README says sticky routing buys: peers without --stateless, `ip_hash;` instead of `least_conn;`, and a
    2025-era session keeps its peer, so its resources/subscribe hears a job made on another peer."""
    nginx_program()
    peers = await start_peers(tmp_path, fal, flags=())
    folder, port = tmp_path / "nginx", free_port()
    addresses = [p.base.removeprefix("http://") for p in peers]
    block, swaps = re.subn(r"^(\s*)least_conn;", r"\g<1>ip_hash;", for_the_test(readme_block(), addresses, port), flags=re.M)
    assert swaps == 1
    heard, proc = anyio.Event(), None

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification) and message.params.uri == "pika://jobs":
            heard.set()

    try:
        proc = await anyio.to_thread.run_sync(start_nginx, folder, block, port)
        with anyio.fail_after(CALL_SECONDS):
            async with person(f"http://127.0.0.1:{port}/mcp", TOKEN_A, "legacy", message_handler=on_message) as client:
                resources = client.server_capabilities.resources
                assert resources is not None and resources.subscribe
                await client.subscribe_resource("pika://jobs")
                held = {peer for method, path, _, peer in answered_by(folder) if method == "POST" and path == "/mcp"}
                assert len(held) == 1, held  # the session's every request reached the peer that opened it
                other = next(p for p in peers if p.base.removeprefix("http://") not in held)
                made = (await call_on(other, TOOL, {"prompt": "made on another peer", "wait_seconds": 0})).structured_content
                assert made is not None
                await heard.wait()
                listed = (await client.call_tool("pika_list_jobs", {})).structured_content
                assert listed is not None and made["job_id"] in {j["job_id"] for j in listed["jobs"]}
    finally:
        if proc is not None:
            stop_nginx(proc)
        stop(peers)

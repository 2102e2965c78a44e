"""The fal key and the HTTP tokens never leak: not in a result, a resource, a log line, an error, the ledger or any file.

Distinctive secrets, a varied workload at DEBUG with the rotating log file on, then a byte scan of everything the
server said or wrote. Each scan also asserts that it scanned something real (a log with DEBUG lines, a ledger with
jobs, posters, videos), so that an empty log or a missing file cannot make it pass.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from pika_mcp.cli import setup_logging
from pika_mcp.errors import FalError, PikaError
from pika_mcp.queue import FalQueue
from pika_mcp.sandbox.config import FailSpec, Fault
from pika_mcp.sandbox.record import fingerprint
from pika_mcp.sandbox.remote import SandboxControl
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from pika_mcp.storage import FalStorage
from tests.conftest import FAST_RETRY, Fal, final, make_settings
from tests.test_http import start_server, stop_server

pytestmark = pytest.mark.anyio

KEY_ID = "sekret-id-7f3a"
KEY_SECRET = "sekret-secret-9c1b"
FAL_KEY = f"{KEY_ID}:{KEY_SECRET}"
TOKEN_A = "tok-alpha-5d2e-71b9c04f8a36-3f0c2a"
TOKEN_B = "tok-bravo-e83c-2a6f91d0b457-9d41e7"
NEEDLES = {
    "the fal key": FAL_KEY,
    "the key id": KEY_ID,
    "the key secret": KEY_SECRET,
    "the url-encoded key": quote(FAL_KEY, safe=""),
    "token A": TOKEN_A,
    "token B": TOKEN_B,
}
PNG = (Path(__file__).resolve().parent.parent / "pika_mcp" / "assets" / "fox.png").read_bytes()
PNG_2 = (Path(__file__).resolve().parent.parent / "pika_mcp" / "assets" / "boat.png").read_bytes()
NOISY_LOGGERS = ("httpx2", "httpx", "httpcore", "httpcore2", "uvicorn.access", "uvicorn.error", "mcp")  # setup_logging's
TURBO = "pika_v2_turbo_text_to_video"
ECHO = f"Invalid credentials in header 'Authorization: Key {FAL_KEY}'."  # what a careless fal could answer


def leaks(data: bytes | str) -> list[str]:
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    return [name for name, secret in NEEDLES.items() if secret.encode() in raw]


def files_under(*roots: Path) -> dict[Path, bytes]:
    found = {}
    for path in sorted(p for root in roots for p in root.rglob("*")):
        try:
            if path.is_file():
                found[path] = path.read_bytes()
        except FileNotFoundError:  # removed between listing and reading (a temporary file): nothing left at rest
            continue
    return found


def assert_no_leak(seen: dict[str, bytes | str]) -> None:
    found = {where: names for where, data in seen.items() if (names := leaks(data))}
    assert found == {}, found


def said(result: Any) -> str:
    """All a tool result carries: its content blocks and its structured content, as text."""
    return json.dumps([result.model_dump(mode="json")], default=str)


def log_is_real(home: Path) -> str:
    """The rotating log file, asserted to hold DEBUG lines and the server's own INFO or WARNING lines."""
    text = (home / "logs" / "pika-mcp.log").read_text()
    assert " DEBUG " in text and (" INFO pika_mcp" in text or " WARNING pika_mcp" in text), text[-3000:]
    return text


@contextmanager
def logging_set_up(settings: Settings) -> Iterator[None]:
    """cli.setup_logging in this process (stderr and the rotating file, at the settings' level), undone afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    setup_logging(settings)
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)


# -- stdio: the server as a desktop client launches it --------------------------------------------------------------


def stdio_params(tmp_path: Path, fal: Fal) -> StdioServerParameters:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "FAL_KEY": FAL_KEY,
        "PIKA_MCP_QUEUE_URL": fal.url,
        "PIKA_MCP_REST_URL": fal.url,
        "PIKA_MCP_HOME": str(tmp_path / "home"),
        "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out"),
        "PIKA_MCP_ALLOWED_DIRS": str(tmp_path / "allowed"),
        "PIKA_MCP_BUDGET_USD": "1.0",
        "PIKA_MCP_LOG_LEVEL": "DEBUG",
    }
    return StdioServerParameters(command=sys.executable, args=["-m", "pika_mcp"], env=env)


async def test_a_stdio_workload_at_debug_leaks_no_secret(tmp_path: Path, fal: Fal) -> None:
    allowed, home, out = tmp_path / "allowed", tmp_path / "home", tmp_path / "out"
    allowed.mkdir()
    (allowed / "fox.png").write_bytes(PNG)
    (allowed / "boat.png").write_bytes(PNG_2)
    fox = str(allowed / "fox.png")
    seen: dict[str, bytes | str] = {}
    config = fal.sandbox.config
    with (tmp_path / "stderr.txt").open("w") as errlog:
        async with Client(stdio_client(stdio_params(tmp_path, fal), errlog=errlog)) as client:

            async def call(tag: str, tool: str, args: dict[str, Any]) -> Any:
                result = await client.call_tool(tool, args)
                seen[f"result {tag}"] = said(result)
                return result

            await call("upload", "pika_upload_file", {"path": fox})
            config.faults += [Fault(op="stream", status=405), Fault(op="status", status=403, detail="Not now.")]  # logged
            made = await call("image", "pika_v22_image_to_video", {"image_url": fox, "prompt": "a fox", "wait_seconds": 120})
            text = await call("text", TURBO, {"prompt": "a paper boat", "wait_seconds": 120})
            config.fail_next.append(FailSpec(status=400, detail="The runner refused this input.", error_type="runner_error"))
            failed = await call("fail", TURBO, {"prompt": "a crash", "wait_seconds": 120})
            policy = await call("policy", TURBO, {"prompt": "[sandbox:content-policy]", "wait_seconds": 120})
            config.queue_seconds = 30.0
            queued = await call("queued", TURBO, {"prompt": "never runs", "wait_seconds": 0})
            config.queue_seconds = 0.3
            await call("cancel", "pika_cancel_job", {"job_id": queued.structured_content["job_id"]})
            refused = await call("refused", "pika_v22_text_to_video", {"prompt": "x", "duration": 7})
            config.faults.append(Fault(op="submit", status=401, detail="Invalid credentials.", error_type="unauthorized"))
            rejected = await call("401", TURBO, {"prompt": "refused by fal"})
            config.faults.append(Fault(op="submit", kind="lost_answer"))
            lost = await call("lost", TURBO, {"prompt": "answer lost"})
            config.faults.append(Fault(op="upload", status=403, detail="Storage refused this upload."))
            no_token = await call("refused upload", "pika_upload_file", {"path": str(allowed / "boat.png")})
            budget = await call("budget", "pika_v22_text_to_video", {"prompt": "x", "resolution": "1080p", "duration": 10})
            await call("unknown", "pika_get_job", {"job_id": "no-such-job"})

            ids = [r.structured_content["job_id"] for r in (made, text, failed, policy, queued, lost)]
            jobs = {job_id: await final(client, job_id) for job_id in ids}
            seen["result list"] = said(await client.call_tool("pika_list_jobs", {"limit": 200}))
            for uri in ["pika://jobs", *(f"pika://jobs/{i}" for i in ids), *(f"pika://jobs/{i}/poster" for i in ids[:2])]:
                seen[f"resource {uri}"] = (await client.read_resource(uri)).model_dump_json()
            running = files_under(home)  # while the server runs: the ledger's -wal file is there
        written = files_under(home, out)

    assert [j["status"] for j in jobs.values()] == ["succeeded", "succeeded", "failed", "failed", "cancelled", "failed"]
    assert jobs[ids[3]]["error"]["type"] == "content_policy" and jobs[ids[5]]["error"]["type"] == "submit_outcome_unknown"
    errors = (refused, rejected, no_token, budget)
    assert all(r.is_error for r in errors), [said(r) for r in errors]
    assert "401" in rejected.content[0].text and "Refused by the budget" in budget.content[0].text
    stderr = (tmp_path / "stderr.txt").read_bytes()
    assert b" DEBUG " in stderr
    log_is_real(home)
    assert any(p.name == "jobs.sqlite3-wal" for p in running) and any(p.name == "jobs.sqlite3" for p in written)
    assert any(p.parent.name == "posters" for p in written) and len([p for p in written if p.suffix == ".mp4"]) == 2
    assert [r.headers["authorization"] for r in fal.sent("submit")][0] == fingerprint(
        f"Key {FAL_KEY}"
    )  # the key was really in use
    seen |= {f"file {p}": data for p, data in {**running, **written}.items()} | {"stderr": stderr}
    assert_no_leak(seen)


# -- fal answering with the key in its error: a naive server would relay it ------------------------------------------


async def echo_workload(tmp_path: Path, fal: Fal, *, refused_status: bool) -> tuple[dict[str, bytes | str], Settings]:
    """Calls whose fal answers quote the key back: a refused submit, a refused storage token, a failed job and, with
    `refused_status`, refused status requests (which the tracker logs). Returns what the client saw and the settings."""
    settings = make_settings(tmp_path, fal.url, fal_key=FAL_KEY, log_level="DEBUG")
    image = tmp_path / "allowed" / "fox.png"
    image.write_bytes(PNG)
    config = fal.sandbox.config
    seen: dict[str, bytes | str] = {}
    with logging_set_up(settings), anyio.fail_after(20):
        async with Client(build_server(settings, retry=FAST_RETRY).mcp) as client:
            config.faults.append(Fault(op="submit", status=401, detail=ECHO, error_type="unauthorized"))
            seen["submit 401"] = said(await client.call_tool(TURBO, {"prompt": "echo one"}))
            config.faults.append(Fault(op="token", status=401, detail=ECHO))
            seen["token 401"] = said(await client.call_tool("pika_upload_file", {"path": str(image)}))
            if refused_status:
                config.faults += [Fault(op=op, status=403, detail=ECHO) for op in ("stream", "status")]
            config.fail_next.append(FailSpec(status=500, detail=ECHO))
            failed = await client.call_tool(TURBO, {"prompt": "echo two", "wait_seconds": 120})
            seen["failed job"] = said(failed)
            job_id = failed.structured_content["job_id"]
            seen["resource"] = (await client.read_resource(f"pika://jobs/{job_id}")).model_dump_json()
            seen["list"] = said(await client.call_tool("pika_list_jobs", {}))
    assert failed.structured_content["status"] == "failed" and len(fal.sent("status")) >= refused_status
    return seen, settings


async def test_no_log_line_quotes_the_key_even_when_fal_echoes_it(
    tmp_path: Path, fal: Fal, capsys: pytest.CaptureFixture[str]
) -> None:
    _, settings = await echo_workload(tmp_path, fal, refused_status=True)
    stderr, log = capsys.readouterr().err, (settings.home / "logs" / "pika-mcp.log").read_text()
    assert "status of" in log and "[redacted]" in log  # the echo was logged, redacted
    assert_no_leak({"stderr": stderr, "log file": log})


async def test_no_result_resource_or_ledger_quotes_the_key_even_when_fal_echoes_it(tmp_path: Path, fal: Fal) -> None:
    seen, settings = await echo_workload(tmp_path, fal, refused_status=False)
    assert_no_leak(seen | {f"file {p}": data for p, data in files_under(settings.home).items()})


# -- the error tree itself ---------------------------------------------------------------------------------------------


def error_texts(exc: BaseException) -> str:
    """Everything an error could show: message, repr, args, fal's fields, and the whole chained traceback."""
    fields = [getattr(exc, name, None) for name in ("status_code", "request_id", "error_type", "detail")]
    return "\n".join([str(exc), repr(exc), repr(exc.args), repr(fields), *traceback.format_exception(exc)])


async def test_errors_from_fal_answers_hold_no_secret(fal: Fal, tmp_path: Path) -> None:
    image = tmp_path / "fox.png"
    image.write_bytes(PNG)
    fal.sandbox.config.faults += [
        Fault(op="submit", status=401, detail="Invalid credentials.", error_type="unauthorized"),
        Fault(op="submit", status=503, times=1),
        Fault(op="token", status=401, detail="No such key."),
        Fault(op="result", status=500, times=5),
    ]
    caught: list[BaseException] = []
    async with httpx2.AsyncClient() as http:
        queue = FalQueue(http, fal.url, FAL_KEY, policy=FAST_RETRY)
        storage = FalStorage(http, fal.url, FAL_KEY, policy=FAST_RETRY)
        for attempt in (
            lambda: queue.submit("fal-ai/pika/v2/turbo/text-to-video", {"prompt": "a"}),
            lambda: queue.submit("fal-ai/pika/v2/turbo/text-to-video", {"prompt": "b"}),
            lambda: storage.upload(image, "image/png", len(PNG)),
            lambda: queue.result(f"{fal.url}/fal-ai/pika/requests/nope"),
            lambda: FalQueue(http, "http://127.0.0.1:9", FAL_KEY, policy=FAST_RETRY).submit("fal-ai/x", {}),
        ):
            with pytest.raises(PikaError) as raised:
                await attempt()
            caught.append(raised.value)
    assert [type(e).__name__ for e in caught] == "FalRejected FalUnavailable FalRejected FalUnavailable FalUnavailable".split()
    assert all(isinstance(e, FalError) for e in caught) and caught[0].status_code == 401
    assert_no_leak({f"error {i}": error_texts(e) for i, e in enumerate(caught)})


# -- streamable HTTP with two tokens -----------------------------------------------------------------------------------


@asynccontextmanager
async def person(url: str, token: str) -> AsyncIterator[Client]:
    """tests.test_http's person, with a read timeout longer than a quiet wait (the default is 5 s)."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:  # type: ignore[arg-type]
            yield client


def post(url: str, authorization: str | None, query: str = "") -> httpx2.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return httpx2.post(url + query, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=10)


async def test_http_with_two_tokens_and_wrong_ones_leaks_no_secret(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "fox.png").write_bytes(PNG)
    served = start_server(
        tmp_path, PIKA_MCP_TOKEN=f"{TOKEN_A}, {TOKEN_B}", FAL_KEY=FAL_KEY, PIKA_MCP_BACKEND="sandbox",
        PIKA_MCP_LOG_LEVEL="DEBUG", PIKA_MCP_ALLOWED_DIRS=str(allowed),
    )  # fmt: skip
    home, seen = tmp_path / "home", dict[str, bytes | str]()
    try:
        async with httpx2.AsyncClient() as http:
            await SandboxControl.of(home / "sandbox", http).configure(queue_seconds=0.1, run_seconds=0.2)
        for name, authorization, query in [
            ("near miss", f"Bearer {TOKEN_A}x", ""),
            ("prefix", f"Bearer {TOKEN_A[:-1]}", ""),
            ("basic", "Basic " + base64.b64encode(f"alice:{TOKEN_B}".encode()).decode(), ""),
            ("query", None, f"?access_token={TOKEN_A}"),
        ]:
            answer = post(served.url, authorization, query)
            assert answer.status_code == 401, name
            seen[f"401 {name}"] = json.dumps({"headers": dict(answer.headers), "body": answer.text})
        async with person(served.url, TOKEN_A) as alice, person(served.url, TOKEN_B) as bob:
            made = await alice.call_tool(TURBO, {"prompt": "alice's boat", "wait_seconds": 60})
            upload = await alice.call_tool("pika_upload_file", {"path": str(allowed / "fox.png")})
            theirs = await bob.call_tool("pika_v21_text_to_video", {"prompt": "[sandbox:content-policy] bob", "wait_seconds": 60})
            job_id = made.structured_content["job_id"]
            spied = await bob.call_tool("pika_get_job", {"job_id": job_id})
            with pytest.raises(MCPError) as denied:
                await bob.read_resource(f"pika://jobs/{job_id}")
            job = await final(alice, job_id)
            seen |= {f"result {i}": said(r) for i, r in enumerate((made, upload, theirs, spied))}
            seen["denied"] = error_texts(denied.value)
            seen["resource"] = (await alice.read_resource(f"pika://jobs/{job_id}")).model_dump_json()
            seen["list"] = said(await bob.call_tool("pika_list_jobs", {}))
    finally:
        assert stop_server(served) == 0, served.log.read_text()
    assert job["status"] == "succeeded" and theirs.structured_content["status"] == "failed", (job, theirs.structured_content)
    assert not upload.is_error and spied.is_error, (upload.content, spied.content)
    written = files_under(home, tmp_path / "videos")
    assert "HTTP server stopped" in log_is_real(home)
    names = sorted(str(p) for p in written)
    assert any(p.name == "jobs.sqlite3" for p in written) and any(p.parent.name == "posters" for p in written), names
    assert any("sandbox" in p.relative_to(home).parts for p in written if p.is_relative_to(home))
    assert_no_leak(seen | {f"file {p}": data for p, data in written.items()} | {"server output": served.log.read_bytes()})


def test_the_needles_would_be_found() -> None:
    """The scan itself works: each secret is found in plain bytes, in JSON and in a log-like line."""
    for secret in NEEDLES.values():
        assert leaks(f"x {secret} y".encode()) and leaks(json.dumps({"detail": secret}))
    assert leaks(ECHO) == ["the fal key", "the key id", "the key secret"]


@pytest.mark.parametrize("key", [FAL_KEY, None])
async def test_a_sandbox_backend_never_receives_the_fal_key(key: str | None, tmp_path: Path, fal: Fal) -> None:
    """`PIKA_MCP_BACKEND=sandbox` pointed at a sandbox elsewhere: it gets a placeholder key, with or without FAL_KEY set."""
    settings = make_settings(tmp_path, fal.url, backend="sandbox", fal_key=key)
    async with Client(build_server(settings, retry=FAST_RETRY).mcp) as client:
        job = (
            await client.call_tool("pika_v2_turbo_text_to_video", {"prompt": "placeholder key", "wait_seconds": 120})
        ).structured_content
    assert job["status"] == "succeeded" and job["backend"] == "sandbox"
    sent = {r.headers.get("authorization") for r in fal.sandbox.received if r.op != "download"}  # files are public
    assert sent == {fingerprint("Key sandbox")}

"""A hostile fal: answers too large, trickled or never ended, URLs elsewhere, keys echoed back; every one is bounded.

Each backend is a raw HTTP server on loopback, written here, that does one bad thing; the fal client meets it
through its ordinary httpx2 client and answers with the error tree, within bounds, the key kept to itself.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client

from pika_mcp import runtime
from pika_mcp.errors import AnswerRefused, FalRejected, FalUnreachable, PikaError, SubmitOutcomeUnknown
from pika_mcp.origins import Origins, connect_guard, refusal
from pika_mcp.outputs import DOWNLOADS_AT_ONCE, Outputs
from pika_mcp.pace import Pace
from pika_mcp.queue import FalQueue
from pika_mcp.server import build_server
from pika_mcp.storage import FalStorage
from pika_mcp.wire import Limits
from tests.conftest import FAST_RETRY, make_settings

pytestmark = pytest.mark.anyio

KEY = "hostile-key-id:hostile-key-secret-0123456789"
ENDPOINT = "fal-ai/pika/v2.2/text-to-video"
SLOW = Pace(min_rate=10_000, window=0.5)  # the real guard's rule over a short window


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Backend:
    url: str
    seen: list[Request] = field(default_factory=list)


@asynccontextmanager
async def backend(handler: Handler) -> AsyncIterator[Backend]:
    """A raw HTTP/1.1 server on loopback: `handler` answers every request, however badly."""
    tasks: set[asyncio.Task[None]] = set()
    served: list[Backend] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
            request = Request(method, path, headers)
            served[0].seen.append(request)
            await handler(request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    served.append(Backend(f"http://127.0.0.1:{port}"))
    try:
        yield served[0]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def answer(status: int, body: bytes, **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def trickle(writer: asyncio.StreamWriter, head: bytes, reader: asyncio.StreamReader) -> None:
    """Send `head`, then one byte at a time, slowly and forever (or until the client leaves)."""
    writer.write(head)
    while True:
        writer.write(b" ")
        await writer.drain()
        try:
            if not await asyncio.wait_for(reader.read(1), 0.05):
                return
        except TimeoutError:
            pass


# -- finding 6: answers are capped -------------------------------------------------------------------------


async def test_a_gzip_bomb_status_answer_is_refused_without_being_inflated_whole() -> None:
    padded = b'{"status": "IN_QUEUE"' + b" " * (6 << 20) + b"}"  # valid JSON, 6 MiB once inflated, 6 KB on the wire
    bomb = gzip.compress(padded, 9)

    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(200, bomb, Content_Type="application/json", Content_Encoding="gzip"))

    async with backend(handler) as fal, httpx2.AsyncClient(timeout=30) as http:
        queue = FalQueue(http, fal.url, KEY, policy=FAST_RETRY)
        with anyio.fail_after(30), pytest.raises(AnswerRefused) as refused:
            await queue.status(f"{fal.url}/{ENDPOINT}/requests/1/status")
    assert len(bomb) < 100_000 and "larger than 4 MiB" in str(refused.value)


async def test_a_status_stream_line_that_never_ends_is_refused_at_64_kib() -> None:
    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: ")
        while True:  # a data line that grows and grows, never ended by a newline
            writer.write(b"x" * 8192)
            await writer.drain()

    async with backend(handler) as fal, httpx2.AsyncClient(timeout=60) as http:
        queue = FalQueue(http, fal.url, KEY, policy=FAST_RETRY)
        with anyio.fail_after(30), pytest.raises(AnswerRefused) as refused:
            async for _ in queue.stream(f"{fal.url}/{ENDPOINT}/requests/1/status"):
                pass
    assert "longer than 64 KiB" in str(refused.value)


# -- finding 7: deadlines, pace, the download pool, streams that only ping ------------------------------------


async def test_a_trickling_cancel_answer_fails_at_the_deadline_however_slowly_it_moves() -> None:
    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await trickle(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", reader)

    async with backend(handler) as fal, httpx2.AsyncClient(timeout=60) as http:
        queue = FalQueue(http, fal.url, KEY, policy=FAST_RETRY, limits=Limits(deadline=1.0))
        with anyio.fail_after(30), pytest.raises(FalUnreachable) as failed:
            await queue.cancel(f"{fal.url}/{ENDPOINT}/requests/1/cancel")
    assert "within 1 s" in str(failed.value)


async def test_a_trickling_download_is_given_up_and_leaves_no_file(tmp_path: Path) -> None:
    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await trickle(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n", reader)

    async with backend(handler) as cdn, httpx2.AsyncClient(timeout=60) as http:
        outputs = Outputs(http, tmp_path / "out", tmp_path / "posters", policy=FAST_RETRY, origins=Origins([cdn.url]), pace=SLOW)
        with anyio.fail_after(30), pytest.raises(FalUnreachable) as failed:
            await outputs._download(f"{cdn.url}/video.mp4", tmp_path / "out" / "v.mp4")
    assert "slower than 10 KB/s" in str(failed.value)
    assert len(cdn.seen) == 5  # retried like a broken connection, then given up
    assert list((tmp_path / "out").iterdir()) == []


async def test_an_upload_the_storage_stops_reading_is_given_up(tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    with big.open("wb") as out:  # far more than the loopback socket buffers hold
        out.truncate(64 << 20)

    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if request.path.startswith("/storage/auth/token"):
            token = {
                "token": "cdn-token-0123456789",
                "token_type": "Bearer",
                "base_url": fal_url[0],
                "expires_at": "2999-01-01T00:00:00Z",
            }
            writer.write(answer(200, json.dumps(token).encode(), Content_Type="application/json"))
            return
        await asyncio.Event().wait()  # the upload: headers read, body never

    fal_url: list[str] = []
    async with backend(handler) as fal, httpx2.AsyncClient(timeout=None) as http:
        fal_url.append(fal.url)
        storage = FalStorage(http, fal.url, KEY, policy=FAST_RETRY, pace=SLOW)
        with anyio.fail_after(60), pytest.raises(FalUnreachable) as failed:
            await storage.upload(big, "video/mp4", big.stat().st_size)
    assert "slower than 10 KB/s" in str(failed.value)


async def test_downloads_run_in_their_own_bounded_pool(tmp_path: Path) -> None:
    arrived = 0
    all_in = anyio.Event()
    release = anyio.Event()

    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == DOWNLOADS_AT_ONCE:
            all_in.set()
        await release.wait()
        writer.write(answer(200, b"\x00" * 1000, Content_Type="video/mp4"))
        await writer.drain()

    count = DOWNLOADS_AT_ONCE + 4
    async with backend(handler) as cdn, httpx2.AsyncClient(timeout=60, limits=httpx2.Limits(max_connections=100)) as http:
        outputs = Outputs(http, tmp_path / "out", tmp_path / "posters", policy=FAST_RETRY, origins=Origins([cdn.url]))
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for n in range(count):
                    tg.start_soon(outputs._download, f"{cdn.url}/{n}.mp4", tmp_path / "out" / f"{n}.mp4")
                await all_in.wait()
                waiting = outputs._downloads.statistics().tasks_waiting
                release.set()
    assert waiting == count - DOWNLOADS_AT_ONCE and arrived == count
    assert len(list((tmp_path / "out").glob("*.mp4"))) == count


async def test_a_status_stream_of_pings_is_closed_when_its_last_watcher_leaves(tmp_path: Path) -> None:
    opened, closed = anyio.Event(), anyio.Event()
    base: list[str] = []

    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        root = f"{base[0]}/fal-ai/pika/requests/r1"
        if request.method == "POST":
            body = {"request_id": "r1", "status_url": f"{root}/status", "response_url": root, "cancel_url": f"{root}/cancel"}
            writer.write(answer(200, json.dumps(body).encode(), Content_Type="application/json"))
        elif request.path.startswith("/fal-ai/pika/requests/r1/status/stream"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            opened.set()
            while True:  # only pings: the job stays queued for ever
                writer.write(b": ping\n\n")
                await writer.drain()
                try:
                    if not await asyncio.wait_for(reader.read(1), 0.1):
                        closed.set()
                        return
                except TimeoutError:
                    pass
        else:
            body = {"status": "IN_QUEUE", "queue_position": 3}
            writer.write(answer(200, json.dumps(body).encode(), Content_Type="application/json"))

    async with backend(handler) as fal:
        base.append(fal.url)
        settings = make_settings(tmp_path, fal.url)
        async with httpx2.AsyncClient(timeout=60) as http:
            server = build_server(settings, lambda: runtime.start(settings, http=http, retry=FAST_RETRY))
            async with Client(server.mcp) as client:
                job = (
                    await client.call_tool("pika_v22_text_to_video", {"prompt": "pings", "wait_seconds": 1})
                ).structured_content
                with anyio.fail_after(30):
                    await opened.wait()  # streamed while someone waited
                    await closed.wait()  # and closed once nobody does, though pings kept it busy
    assert job["status"] == "queued"


# -- finding 8: the key goes only to the configured origins -------------------------------------------------


async def test_urls_an_answer_names_on_another_origin_are_not_followed_with_the_key() -> None:
    async def elsewhere(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(200, b'{"status": "OK"}', Content_Type="application/json"))

    async with backend(elsewhere) as other:

        async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            root = f"{other.url}/stolen"
            body = {"request_id": "r1", "status_url": f"{root}/status", "response_url": root, "cancel_url": f"{root}/cancel"}
            writer.write(answer(200, json.dumps(body).encode(), Content_Type="application/json"))

        async with backend(handler) as fal, httpx2.AsyncClient(timeout=30) as http:
            queue = FalQueue(http, fal.url, KEY, policy=FAST_RETRY)
            with pytest.raises(SubmitOutcomeUnknown) as unknown:
                await queue.submit(ENDPOINT, {"prompt": "a"})
            refused: list[PikaError] = []
            for call in (queue.status, queue.result, queue.cancel):
                with pytest.raises(AnswerRefused) as raised:
                    await call(f"{other.url}/stolen/status")
                refused.append(raised.value)
            with pytest.raises(AnswerRefused):
                async for _ in queue.stream(f"{other.url}/stolen/status"):
                    pass
    assert other.seen == [] and len(fal.seen) == 1
    assert "another origin" in str(unknown.value) and "dashboard" in str(unknown.value)
    assert all(other.url.removeprefix("http://") in str(e) for e in refused)


# -- finding 10: downloads go to https on public addresses, but for the configured origins --------------------


async def test_a_video_url_on_a_loopback_address_is_not_fetched(tmp_path: Path) -> None:
    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(200, b"secret internal page"))

    async with backend(handler) as internal, httpx2.AsyncClient(timeout=30) as http:
        outputs = Outputs(
            http, tmp_path / "out", tmp_path / "posters", policy=FAST_RETRY, origins=Origins(["https://queue.fal.run"])
        )
        port = internal.url.rsplit(":", 1)[1]
        for url in (
            f"{internal.url}/v.mp4",
            f"https://localhost:{port}/v.mp4",
            f"https://127.1:{port}/v.mp4",
            f"https://[::1]:{port}/",
        ):
            with pytest.raises(AnswerRefused):
                await outputs._download(url, tmp_path / "out" / "v.mp4")
    assert internal.seen == []


async def test_a_redirect_from_a_trusted_origin_to_a_private_address_is_not_followed(tmp_path: Path) -> None:
    async def inside(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(200, b"secret internal page"))

    async with backend(inside) as internal:

        async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(answer(302, b"", Location=f"{internal.url}/admin"))

        async with backend(handler) as fal, httpx2.AsyncClient(timeout=30, follow_redirects=True) as http:
            outputs = Outputs(http, tmp_path / "out", tmp_path / "posters", policy=FAST_RETRY, origins=Origins([fal.url]))
            with pytest.raises(AnswerRefused) as refused:
                await outputs._download(f"{fal.url}/v.mp4", tmp_path / "out" / "v.mp4")
    assert internal.seen == [] and len(fal.seen) == 1
    assert "https" in str(refused.value)


async def test_a_connection_to_a_private_address_is_refused_before_a_byte_is_sent() -> None:
    """The check at connect time, which catches a host name resolving to this machine (no DNS in tests: an address)."""
    got: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await reader.read())
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx2.AsyncClient(timeout=30) as http:
            request = http.build_request("GET", f"http://127.0.0.1:{port}/", extensions={"trace": connect_guard("127.0.0.1")})
            with pytest.raises(AnswerRefused) as refused:
                await http.send(request)
            with anyio.fail_after(30):
                while not got:
                    await anyio.sleep(0.01)
    finally:
        server.close()
        await server.wait_closed()
    assert got == [b""] and "not a public address" in str(refused.value)


TRUSTED = Origins(["http://127.0.0.1:8766", "https://queue.fal.run", "http://sandbox.internal:9000"])


@pytest.mark.parametrize(
    "url",
    [
        "https://v3.fal.media/files/x.mp4",
        "https://example.com:8443/a.png",
        "https://93.184.216.34/a.png",
        "http://127.0.0.1:8766/files/x.mp4",  # a configured origin, as configured
        "https://queue.fal.run/x",
        "http://sandbox.internal:9000/files/y",
    ],
)
def test_a_media_url_that_passes_by_its_text(url: str) -> None:
    assert refusal(url, TRUSTED) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.png",  # http
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "https://localhost/a.png",
        "https://LOCALHOST./a.png",
        "https://foo.localhost/a.png",
        "https://127.0.0.1/a.png",
        "https://127.1/a.png",
        "https://2130706433/a.png",
        "https://0x7f.0.0.1/a.png",
        "https://[::1]/a.png",
        "https://[::ffff:127.0.0.1]/a.png",
        "https://10.0.0.5/a.png",
        "https://192.168.1.1/a.png",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/a.png",
        "https://0.0.0.0/a.png",
        "https://[::]/a.png",
        "http://127.0.0.1:8767/files/x.mp4",  # loopback, but not the configured port
        "https:///nohost",
        "https://example.com:notaport/",
    ],
)
def test_a_media_url_refused_by_its_text(url: str) -> None:
    assert refusal(url, TRUSTED) is not None


# -- finding 11 and issue 12: scrubbed headers, a refusal that names the key -----------------------------------


async def test_a_key_echoed_in_fal_headers_is_scrubbed_from_the_error() -> None:
    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        echoed = request.headers["authorization"].removeprefix("Key ")
        writer.write(answer(422, b"not json " + echoed.encode(), X_Fal_Error_Type=echoed, X_Fal_Request_Id=echoed))

    async with backend(handler) as fal, httpx2.AsyncClient(timeout=30) as http:
        queue = FalQueue(http, fal.url, KEY, policy=FAST_RETRY)
        with pytest.raises(FalRejected) as refused:
            await queue.result(f"{fal.url}/{ENDPOINT}/requests/1")
    error = refused.value
    said = repr([str(error), error.error_type, error.request_id, error.detail])
    assert error.status_code == 422 and "[redacted]" in said
    for part in (KEY, *KEY.split(":")):
        assert part not in said


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refusal_of_the_credentials_names_fal_key_and_how_to_fix_it(status: int) -> None:
    async def handler(request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(status, b'{"detail": "Invalid key"}', Content_Type="application/json"))

    async with backend(handler) as fal, httpx2.AsyncClient(timeout=30) as http:
        queue = FalQueue(http, fal.url, KEY, policy=FAST_RETRY)
        with pytest.raises(FalRejected) as refused:
            await queue.submit(ENDPOINT, {"prompt": "a"})
    message = str(refused.value)
    assert "refused the credentials" in message and "FAL_KEY" in message and "malformed" in message
    assert "https://fal.ai/dashboard/keys" in message and str(status) in message
    assert KEY.split(":")[1] not in message

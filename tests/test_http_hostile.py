"""HTTP hostility: oversized bodies and a flood of stalled connections are bounded; the rightful client is still served."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx2
import pytest

from tests.conftest import all_tools
from tests.test_http import TOKEN_A, Served, person, start_server, stop_server

STALLED_CONNECTIONS = 200


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("hostile")
    server = start_server(tmp, PIKA_MCP_TOKEN=TOKEN_A)
    yield server
    assert stop_server(server) == 0, server.log.read_text()


def headers() -> dict[str, str]:
    return {
        "Authorization": f"Bearer {TOKEN_A}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }


def test_an_oversized_body_is_refused_and_the_server_keeps_serving(served: Served) -> None:
    huge = (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pika_get_job","arguments":{"job_id":"'
        + b"x" * (5 * 1024 * 1024)
        + b'"}}}'
    )
    answer = httpx2.post(served.url, headers=headers(), content=huge, timeout=30)
    assert answer.status_code == 413
    assert httpx2.get(served.base + "/healthz").status_code == 200


def test_a_body_that_is_not_json_rpc_is_a_clean_error(served: Served) -> None:
    answer = httpx2.post(served.url, headers=headers(), content=b"\x00\xff not json", timeout=10)
    assert 400 <= answer.status_code < 500
    assert "Traceback" not in answer.text


@pytest.mark.anyio
async def test_a_flood_of_stalled_connections_does_not_starve_the_rightful_client(served: Served) -> None:
    host, port = served.base.removeprefix("http://").split(":")
    stalled = []
    try:
        for _ in range(STALLED_CONNECTIONS):  # slowloris: a request line and half a header, then nothing
            conn = socket.create_connection((host, int(port)), timeout=5)
            conn.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
            stalled.append(conn)
        async with person(served.url, TOKEN_A) as client:
            tools = await client.list_tools()
            listing = await client.call_tool("pika_list_jobs", {})
        assert {t.name for t in tools.tools} == all_tools() and not listing.is_error
    finally:
        for conn in stalled:
            conn.close()
    assert httpx2.get(served.base + "/healthz").status_code == 200


def test_no_file_the_server_wrote_holds_the_token(served: Served) -> None:
    httpx2.post(
        served.url,
        headers=headers() | {"Authorization": "Bearer " + TOKEN_A[:-1] + "?"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    written = [p for p in served.log.parent.rglob("*") if p.is_file()]
    assert any(p.name == "jobs.sqlite3" for p in written)  # the home was really written to
    for path in written:
        assert TOKEN_A.encode() not in path.read_bytes(), path

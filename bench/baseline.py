"""The baselines: MCP servers built with the same SDK that do the least pika-mcp must also do.

`python -m bench.baseline hello`: a hello-world MCPServer with one tool (the cold start baseline).
`python -m bench.baseline submit URL KEY BODY`: one tool that makes the same single HTTP POST to fal's submit
URL with httpx2 and returns fal's answer as structured content (the call overhead baseline).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer


def hello() -> MCPServer:
    server = MCPServer("hello")

    @server.tool()
    def greet(name: str) -> str:
        """Say hello."""
        return f"Hello, {name}!"

    return server


def submit(url: str, key: str, body: dict[str, Any]) -> MCPServer:
    import logging

    import httpx2

    logging.getLogger("httpx2").setLevel(logging.WARNING)  # as pika-mcp does: no log line per request

    clients: list[httpx2.AsyncClient] = []

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        async with httpx2.AsyncClient(timeout=60.0) as http:
            clients.append(http)
            yield

    server = MCPServer("baseline-submit", lifespan=lifespan)

    @server.tool()
    async def generate(prompt: str, wait_seconds: int = 0, force_new: bool = False) -> dict[str, Any]:
        """Submit a text-to-video job to fal and return its queue answer."""
        response = await clients[0].post(url, json=body | {"prompt": prompt}, headers={"Authorization": f"Key {key}"})
        response.raise_for_status()
        return dict(response.json())

    return server


if __name__ == "__main__":
    if sys.argv[1:2] == ["submit"]:
        import json

        submit(sys.argv[2], sys.argv[3], json.loads(sys.argv[4])).run("stdio")
    else:
        hello().run("stdio")

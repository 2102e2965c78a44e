"""A running sandbox's control routes, as tests, the bench and scripts call them: the token read from its state folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from pika_mcp.sandbox.access import JSON_TYPE, TOKEN_FILE, TOKEN_HEADER, read_address, read_token


@dataclass(frozen=True)
class SandboxControl:
    """`/_sandbox/*` of the sandbox at `url`; every call sends the token and JSON, and raises on an error answer."""

    url: str
    token: str
    http: httpx2.AsyncClient

    @classmethod
    def of(cls, state_dir: Path, http: httpx2.AsyncClient, url: str | None = None) -> SandboxControl:
        """The sandbox whose state is in `state_dir`; its address recorded there unless `url` is given."""
        token = read_token(state_dir / TOKEN_FILE)
        if token is None:
            raise FileNotFoundError(f"No sandbox control token in {state_dir}: has a sandbox run there?")
        return cls((url or read_address(state_dir)).rstrip("/"), token, http)

    @property
    def headers(self) -> dict[str, str]:
        return {TOKEN_HEADER: self.token}

    async def get(self, route: str, **options: Any) -> Any:
        answer = await self.http.get(f"{self.url}/_sandbox/{route}", headers=self.headers, **options)
        return answer.raise_for_status().json()

    async def post(self, route: str, body: object = None, **options: Any) -> Any:
        headers = self.headers | {"Content-Type": JSON_TYPE}
        answer = await self.http.post(f"{self.url}/_sandbox/{route}", json=body or {}, headers=headers, **options)
        return answer.raise_for_status().json()

    async def configure(self, **switches: Any) -> dict[str, Any]:
        """Change switches (queue_seconds, run_seconds, fail_next, …); answers all of them."""
        return dict(await self.post("config", switches))

    async def add_faults(self, *faults: dict[str, Any]) -> list[dict[str, Any]]:
        return list((await self.post("faults", {"faults": list(faults)}))["faults"])

    async def reset(self) -> None:
        """Forget recorded requests, counts, pending faults and failures (jobs stay)."""
        await self.post("reset")

    async def received(self, **options: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The recorded requests (the most recent, credentials fingerprinted) and the count per operation."""
        answer = await self.get("requests", **options)
        return answer["requests"], answer["counts"]

    async def jobs(self) -> list[str]:
        return list((await self.get("jobs"))["jobs"])

"""The fal queue client: submit, status (polled or streamed), result and cancel, as fal's own clients speak them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2

from pika_mcp import __version__
from pika_mcp.errors import FalError, FalRejected, FalUnavailable, SubmitOutcomeUnknown, scrub, secret_parts
from pika_mcp.retry import RetryPolicy, with_retries

FalState = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
CancelOutcome = Literal["OK", "CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "NOT_FOUND"]
USER_AGENT = f"pika-mcp/{__version__}"
# Only these transport errors prove the submit never left: anything later may have created a job.
NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.UnsupportedProtocol)
# fal's status stream sends a comment every 15 s; a stream quiet for longer than this has hung.
STREAM_IDLE_SECONDS = 20.0


@dataclass(frozen=True)
class Submitted:
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str
    queue_position: int | None


@dataclass(frozen=True)
class Status:
    state: FalState
    queue_position: int | None = None
    logs: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    error_type: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, body: Any) -> Status:
        if not isinstance(body, dict) or body.get("status") not in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED"):
            raise FalError(f"fal answered a status request with an unexpected body: {str(body)[:200]}")
        return cls(
            state=body["status"],
            queue_position=body.get("queue_position") if isinstance(body.get("queue_position"), int) else None,
            logs=tuple(log for log in body.get("logs") or () if isinstance(log, dict)),
            error=body.get("error") if isinstance(body.get("error"), str) else None,
            error_type=body.get("error_type") if isinstance(body.get("error_type"), str) else None,
            raw=body,
        )


class FalQueue:
    """One fal queue API (fal itself or the sandbox) at `base_url`; URLs from submit are reused, never rebuilt."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        base_url: str,
        key: str | None,
        *,
        relative: bool = False,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._relative = relative
        self._headers = {"User-Agent": USER_AGENT} | ({"Authorization": f"Key {key}"} if key else {})
        self._policy = policy or RetryPolicy()

    def store(self, url: str) -> str:
        """A URL as the ledger keeps it: relative to the root for the embedded sandbox, whose port may change."""
        if self._relative and url.startswith(self.base_url + "/"):
            return url[len(self.base_url) :]
        return url

    def url(self, stored: str) -> str:
        """A stored URL made live: relative ones (the sandbox's) are rebased on the current base."""
        return self.base_url + stored if stored.startswith("/") else stored

    async def submit(self, endpoint_id: str, body: dict[str, Any]) -> Submitted:
        """POST the input; retried only when the connection never opened, or on 429."""
        url = f"{self.base_url}/{endpoint_id}"
        try:
            response = await with_retries(
                lambda: self._http.post(url, json=body, headers=self._headers),
                self._policy,
                retry_status=lambda r: r.status_code == 429,
                retry_error=lambda exc: isinstance(exc, NEVER_SENT),
            )
        except NEVER_SENT as exc:
            raise FalUnavailable(f"Could not connect to fal at {self.base_url}: {type(exc).__name__}. Nothing was submitted.") from exc
        except httpx2.TransportError as exc:
            raise SubmitOutcomeUnknown(
                f"The submit to {endpoint_id} was sent but its answer was lost ({type(exc).__name__}); "
                "fal may have created the job. Check your fal dashboard before retrying."
            ) from exc
        if response.status_code >= 400:
            raise _error(response, f"fal refused the submit to {endpoint_id}")
        data = _json(response)
        try:
            return Submitted(
                request_id=str(data["request_id"]),
                status_url=self.store(str(data["status_url"])),
                response_url=self.store(str(data["response_url"])),
                cancel_url=self.store(str(data["cancel_url"])),
                queue_position=data.get("queue_position") if isinstance(data.get("queue_position"), int) else None,
            )
        except (KeyError, TypeError) as exc:
            raise SubmitOutcomeUnknown(f"fal's answer to the submit had no request id: {str(data)[:200]}") from exc

    async def status(self, status_url: str, *, logs: bool = False) -> Status:
        response = await self._retried("GET", self.url(status_url), params={"logs": "1" if logs else "0"})
        if response.status_code >= 400:
            raise _error(response, "fal refused the status request")
        return Status.parse(_json(response))

    async def stream(self, status_url: str, *, logs: bool = False) -> AsyncIterator[Status]:
        """fal's /status/stream: one Status per server-sent event, until COMPLETED or the stream ends."""
        url = self.url(status_url).rstrip("/") + "/stream"
        headers = self._headers | {"Accept": "text/event-stream"}
        try:
            async for status in self._events(url, headers, logs):
                yield status
                if status.state == "COMPLETED":
                    return
        except httpx2.TransportError as exc:
            raise FalUnavailable(f"The status stream broke off ({type(exc).__name__}).") from exc

    async def _events(self, url: str, headers: dict[str, str], logs: bool) -> AsyncIterator[Status]:
        timeout = self._http.timeout
        idle = min(timeout.read or STREAM_IDLE_SECONDS, STREAM_IDLE_SECONDS)
        timeout = httpx2.Timeout(timeout.connect, read=idle, write=timeout.write, pool=timeout.pool)
        params = {"logs": "1" if logs else "0"}
        async with self._http.stream("GET", url, params=params, headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _error(response, "fal refused the status stream")
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    status = Status.parse(json.loads("\n".join(data)))
                    data = []
                    yield status
                    if status.state == "COMPLETED":
                        return

    async def result(self, response_url: str) -> dict[str, Any]:
        """The output of a COMPLETED request; a failed one raises FalError with fal's detail."""
        response = await self._retried("GET", self.url(response_url))
        if response.status_code >= 400:
            raise _error(response, "fal reported the job as failed")
        return _json(response)

    async def cancel(self, cancel_url: str) -> CancelOutcome:
        """fal's answer decides, by the `status` in its body whatever the HTTP code."""
        response = await self._retried("PUT", self.url(cancel_url))
        try:
            outcome = response.json().get("status")
        except (ValueError, AttributeError):
            outcome = None
        if outcome in ("OK", "CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "NOT_FOUND"):
            return outcome  # type: ignore[no-any-return]
        if response.status_code == 404:
            return "NOT_FOUND"
        raise _error(response, "fal did not accept the cancel request")

    async def _retried(self, method: str, url: str, params: dict[str, str] | None = None) -> httpx2.Response:
        """Every call but submit: the retry table's tries; a transport error that outlasts them is FalUnavailable."""
        try:
            return await with_retries(lambda: self._http.request(method, url, params=params, headers=self._headers), self._policy)
        except httpx2.TransportError as exc:
            raise FalUnavailable(f"Could not reach fal ({type(exc).__name__}) after retrying.") from exc


def _credentials(response: httpx2.Response) -> list[str]:
    """The credential the request carried (fal key or storage token): what an answer must never echo."""
    try:
        header = response.request.headers.get("authorization", "")
    except RuntimeError:  # a response built without a request
        return []
    return secret_parts(header.partition(" ")[2])


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        data = response.json()
        if _may_echo(response.content, secrets := _credentials(response)):
            data = scrub(data, secrets)
    except ValueError as exc:
        raise FalError(f"fal answered {response.status_code} with a body that is not JSON.", status_code=response.status_code) from exc
    if not isinstance(data, dict):
        raise FalError(f"fal answered {response.status_code} with unexpected JSON.", status_code=response.status_code)
    return data


def _may_echo(body: bytes, secrets: list[str]) -> bool:
    """Whether a JSON body may hold a secret: it does if the raw bytes do, unless an escape hides one."""
    return b"\\" in body or any(secret.encode() in body for secret in secrets)


def _error(response: httpx2.Response, what: str) -> FalError:
    """Translate one fal error answer into the error tree, keeping fal's detail and error_type."""
    secrets = _credentials(response)
    try:
        body = scrub(response.json(), secrets)
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else (scrub(response.text[:500], secrets) or None)
    error_type = (body.get("error_type") if isinstance(body, dict) else None) or response.headers.get("x-fal-error-type")
    summary = _summary(detail)
    kind = FalUnavailable if response.status_code >= 500 or response.status_code == 429 else FalRejected
    return kind(
        f"{what} (HTTP {response.status_code}{', ' + error_type if error_type else ''}): {summary}",
        status_code=response.status_code,
        request_id=response.headers.get("x-fal-request-id"),
        error_type=error_type,
        detail=detail,
    )


def _summary(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail[:5]:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}".strip(": "))
        if parts:
            return "; ".join(parts)
    return "no detail given"

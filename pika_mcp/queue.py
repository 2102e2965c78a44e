"""The fal queue client: submit, status (polled or streamed), result and cancel, as fal's own clients speak them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2

from pika_mcp import __version__
from pika_mcp.errors import AnswerRefused, FalError, FalUnavailable, FalUnreachable, SubmitOutcomeUnknown
from pika_mcp.origins import Origins, origin
from pika_mcp.retry import RetryPolicy
from pika_mcp.wire import Answer, Limits, call, credentials, lines, parse_json, read_capped, translated

FalState = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
CancelOutcome = Literal["OK", "CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "NOT_FOUND"]
USER_AGENT = f"pika-mcp/{__version__}"
# fal's status stream sends a comment every 15 s: a stream that sends no byte for this long has hung, and the job
# goes back to polling.
STREAM_IDLE_SECONDS = 30.0


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
    """One fal queue API (fal itself or the sandbox) at `base_url`; URLs from submit are reused, never rebuilt.

    The key goes only to `base_url`'s origin (and `key_origins`): a URL that an answer names elsewhere is refused.
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        base_url: str,
        key: str | None,
        *,
        relative: bool = False,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
        key_origins: Origins | None = None,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._relative = relative
        self._headers = {"User-Agent": USER_AGENT} | ({"Authorization": f"Key {key}"} if key else {})
        self._policy = policy or RetryPolicy()
        self._limits = limits or Limits()
        self._origins = key_origins or Origins()
        self._origins.add(self.base_url)

    def store(self, url: str) -> str:
        """A URL as the ledger keeps it: relative to the root for the embedded sandbox, whose port may change."""
        if self._relative and url.startswith(self.base_url + "/"):
            return url[len(self.base_url) :]
        return url

    def url(self, stored: str) -> str:
        """A stored URL made live: relative ones (the sandbox's) are rebased on the current base."""
        return self.base_url + stored if stored.startswith("/") else stored

    def _checked(self, stored: str, what: str) -> str:
        """The live URL, if the key may go there: URLs an answer names on another origin are not followed with it."""
        url = self.url(stored)
        if url not in self._origins:
            raise AnswerRefused(
                f"fal's answer named a {what} URL on another origin ({_origin_text(url)}); pika-mcp sends the fal key "
                f"only to {self.base_url} and did not follow it."
            )
        return url

    async def submit(self, endpoint_id: str, body: dict[str, Any]) -> Submitted:
        """POST the input; retried only when the connection never opened, or on 429."""
        url = f"{self.base_url}/{endpoint_id}"
        try:
            answer = await self._call(
                "POST", url, json=body, retry_status=lambda r: r.status_code == 429, retry_error=lambda exc: not exc.sent
            )
        except FalUnreachable as exc:
            if not exc.sent:
                raise FalUnavailable(f"{exc} Nothing was submitted.") from exc
            raise SubmitOutcomeUnknown(
                f"The submit to {endpoint_id} was sent but its answer was lost ({exc}); "
                "fal may have created the job. Check your fal dashboard before retrying."
            ) from exc
        except AnswerRefused as exc:
            raise _unknown(endpoint_id, exc) from exc
        if answer.status_code >= 400:
            raise answer.error(f"fal refused the submit to {endpoint_id}")
        data: dict[str, Any] = {}
        try:
            data = answer.json("fal's answer to the submit")
            submitted = Submitted(
                request_id=str(data["request_id"]),
                status_url=self.store(str(data["status_url"])),
                response_url=self.store(str(data["response_url"])),
                cancel_url=self.store(str(data["cancel_url"])),
                queue_position=data.get("queue_position") if isinstance(data.get("queue_position"), int) else None,
            )
            for stored, what in (
                (submitted.status_url, "status"),
                (submitted.response_url, "result"),
                (submitted.cancel_url, "cancel"),
            ):
                self._checked(stored, what)
        except (KeyError, TypeError) as exc:
            raise SubmitOutcomeUnknown(f"fal's answer to the submit had no request id: {str(data)[:200]}") from exc
        except FalError as exc:  # fal answered 2xx, so it may well have made the job: pika-mcp cannot follow it
            raise _unknown(endpoint_id, exc) from exc
        return submitted

    async def status(self, status_url: str, *, logs: bool = False) -> Status:
        answer = await self._call("GET", self._checked(status_url, "status"), params={"logs": "1" if logs else "0"})
        if answer.status_code >= 400:
            raise answer.error("fal refused the status request")
        return Status.parse(answer.json("fal's status answer"))

    async def stream(self, status_url: str, *, logs: bool = False) -> AsyncGenerator[Status, None]:
        """fal's /status/stream: one Status per server-sent event, until COMPLETED or the stream ends."""
        url = self._checked(status_url, "status").rstrip("/") + "/stream"
        headers = self._headers | {"Accept": "text/event-stream"}
        with translated("fal's status stream"):
            async for status in self._events(url, headers, logs):
                yield status
                if status.state == "COMPLETED":
                    return

    async def _events(self, url: str, headers: dict[str, str], logs: bool) -> AsyncIterator[Status]:
        timeout = self._http.timeout
        idle = min(timeout.read or STREAM_IDLE_SECONDS, STREAM_IDLE_SECONDS)
        timeout = httpx2.Timeout(timeout.connect, read=idle, write=timeout.write, pool=timeout.pool)
        params = {"logs": "1" if logs else "0"}
        secrets = list(credentials(headers))
        limits = self._limits
        async with self._http.stream("GET", url, params=params, headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                content = await read_capped(response, limits.json_bytes, "fal's status stream")
                key_sent = headers.get("Authorization", "").startswith("Key ")
                raise Answer(response.status_code, response.headers, content, tuple(secrets), key_sent).error(
                    "fal refused the status stream"
                )
            data: list[str] = []
            size = 0
            async for line in lines(response, limits.line_bytes, "fal's status stream"):
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                    size += len(data[-1])
                    if size > limits.json_bytes:
                        raise AnswerRefused("An event of fal's status stream was too large; pika-mcp reads no more of it.")
                elif not line and data:
                    status = Status.parse(parse_json("\n".join(data).encode(), "an event of fal's status stream", secrets))
                    data, size = [], 0
                    yield status
                    if status.state == "COMPLETED":
                        return

    async def result(self, response_url: str) -> dict[str, Any]:
        """The output of a COMPLETED request; a failed one raises FalError with fal's detail."""
        answer = await self._call("GET", self._checked(response_url, "result"))
        if answer.status_code >= 400:
            raise answer.error("fal reported the job as failed")
        return answer.json("fal's result")

    async def cancel(self, cancel_url: str) -> CancelOutcome:
        """fal's answer decides, by the `status` in its body whatever the HTTP code."""
        answer = await self._call("PUT", self._checked(cancel_url, "cancel"))
        try:
            outcome = answer.json("fal's answer to the cancel").get("status")
        except FalError:
            outcome = None
        if outcome in ("OK", "CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "NOT_FOUND"):
            return outcome  # type: ignore[no-any-return]
        if answer.status_code == 404:
            return "NOT_FOUND"
        raise answer.error("fal did not accept the cancel request")

    async def _call(self, method: str, url: str, **kwargs: Any) -> Answer:
        """One call within the retry table and the answer limits; a network failure that outlasts them is FalUnreachable."""
        where = f"fal at {self.base_url}"
        return await call(
            self._http, method, url, where=where, policy=self._policy, limits=self._limits, headers=self._headers, **kwargs
        )


def _unknown(endpoint_id: str, exc: FalError) -> SubmitOutcomeUnknown:
    return SubmitOutcomeUnknown(
        f"The submit to {endpoint_id} was answered, but pika-mcp could not use the answer: {exc} "
        "fal may have created the job. Check your fal dashboard before retrying."
    )


def _origin_text(url: str) -> str:
    return origin(url) or "an unreadable URL"

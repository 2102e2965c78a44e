"""fal's answers, read in one place: httpx2's exceptions become the error tree, answers are bounded in time and size,
and error answers keep fal's data with every credential scrubbed out (as httpx maps httpcore's errors once)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from pika_mcp.errors import AnswerRefused, FalError, FalRejected, FalUnavailable, FalUnreachable, scrub, secret_parts
from pika_mcp.retry import RetryPolicy, retryable_response, with_retries

# A status, result or token answer is a few KB; a hostile or broken backend could send gigabytes (or a gzip bomb):
# read at most this much, counted after decompression.
JSON_MAX_BYTES = 4 << 20
# One line of a status stream (an event's data line): fal's are well under 1 KB.
LINE_MAX_BYTES = 64 << 10
# fal answers submit, status, result, cancel and the storage token at once: done or failed within this, retries
# included, however slowly an answer trickles in (an httpx read timeout counts only the gap between two bytes).
ANSWER_SECONDS = 60.0
# Only these prove that a request never left: anything later may have reached fal (and a submit made a job).
NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.UnsupportedProtocol)
KEYS_PAGE = "https://fal.ai/dashboard/keys"


@dataclass(frozen=True)
class Limits:
    """The bounds on every answer read from fal; tests shorten them."""

    deadline: float = ANSWER_SECONDS
    json_bytes: int = JSON_MAX_BYTES
    line_bytes: int = LINE_MAX_BYTES


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Inside, httpx2's exceptions are raised as the error tree's, `where` naming what was called."""
    try:
        yield
    except NEVER_SENT as exc:
        raise FalUnreachable(f"Could not connect to {where} ({type(exc).__name__}).", sent=False) from exc
    except httpx2.TransportError as exc:
        raise FalUnreachable(f"The connection to {where} failed ({type(exc).__name__}).") from exc
    except httpx2.TooManyRedirects as exc:
        raise AnswerRefused(f"{where} redirected too many times.") from exc
    except httpx2.DecodingError as exc:
        raise AnswerRefused(f"{where} answered with a body that does not decode as it says ({exc}).") from exc
    except (httpx2.HTTPError, httpx2.InvalidURL, httpx2.StreamError) as exc:
        raise FalError(f"The request to {where} failed ({type(exc).__name__}).") from exc


def credentials(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The credential a request carries (the fal key or a storage token): what no answer may echo back."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    return tuple(secret_parts(value.partition(" ")[2]))


@dataclass(frozen=True)
class Answer:
    """One answer read whole (within the caps) and closed; what the queue and storage clients work with."""

    status_code: int
    headers: httpx2.Headers
    content: bytes
    secrets: tuple[str, ...] = ()
    key_sent: bool = False  # the request carried `Authorization: Key …`: a 401 or 403 is about FAL_KEY

    async def aclose(self) -> None:
        """Nothing to release: the answer was read whole (the retry loop closes what it does not return)."""

    def json(self, what: str = "fal's answer") -> dict[str, Any]:
        data = parse_json(self.content, what, list(self.secrets))
        if not isinstance(data, dict):
            raise FalError(f"fal answered {self.status_code} with unexpected JSON.", status_code=self.status_code)
        return data

    def error(self, what: str) -> FalError:
        """This error answer as the error tree's: fal's detail, error_type and request id, with no credential."""
        secrets = list(self.secrets)
        try:
            body = parse_json(self.content, what, secrets)
        except FalError:
            body = None
        text = self.content[:500].decode("utf-8", "replace")
        detail = body.get("detail") if isinstance(body, dict) else (scrub(text, secrets) or None)
        error_type = (body.get("error_type") if isinstance(body, dict) else None) or self.headers.get("x-fal-error-type")
        error_type = scrub(str(error_type)[:200], secrets) if error_type else None
        request_id = self.headers.get("x-fal-request-id")
        code = self.status_code
        said = f"(HTTP {code}{', ' + error_type if error_type else ''}): {summary(detail)}"
        if code in (401, 403) and self.key_sent:
            message = (
                f"{what}: fal refused the credentials {said}. FAL_KEY looks malformed or is wrong: copy the whole key "
                f"(key_id:key_secret) from {KEYS_PAGE} into FAL_KEY and restart pika-mcp."
            )
        else:
            message = f"{what} {said}"
        kind = FalUnavailable if code >= 500 or code == 429 else FalRejected
        return kind(
            message,
            status_code=code,
            request_id=scrub(request_id[:200], secrets) if request_id else None,
            error_type=error_type,
            detail=detail,
        )


def parse_json(content: bytes, what: str, secrets: list[str]) -> Any:
    """JSON from a capped body, with every secret blanked out; AnswerRefused for what is not JSON or nests too deep."""
    try:
        data = json.loads(content)
    except RecursionError as exc:
        raise AnswerRefused(f"{what} nests its JSON too deeply to read.") from exc
    except ValueError as exc:
        raise FalError(f"{what} is not JSON.") from exc
    if b"\\" in content or any(secret.encode() in content for secret in secrets):  # else no secret can be in it
        data = scrub(data, secrets)
    return data


async def read_capped(response: httpx2.Response, cap: int, what: str) -> bytes:
    """The decoded body, refused once it passes `cap` bytes: a gzip bomb is never inflated whole."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise AnswerRefused(f"{what} was larger than {_size(cap)} (decompressed); pika-mcp reads no more of it.")
        chunks.append(chunk)
    return b"".join(chunks)


async def lines(response: httpx2.Response, cap: int, what: str) -> AsyncIterator[str]:
    """The lines of a streamed answer, each refused once it passes `cap` bytes (a line that never ends included)."""
    pending = b""
    async for chunk in response.aiter_bytes():
        *complete, pending = (pending + chunk).split(b"\n")
        for line in [*complete, pending]:
            if len(line) > cap:
                raise AnswerRefused(f"{what} sent a line longer than {_size(cap)}; pika-mcp reads no more of it.")
        for line in complete:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


async def fetch(
    http: httpx2.AsyncClient, method: str, url: str, *, where: str, limits: Limits, headers: Mapping[str, str], **kwargs: Any
) -> Answer:
    """One request, its answer read whole within `limits.json_bytes`."""
    with translated(where):
        async with http.stream(method, url, headers=dict(headers), **kwargs) as response:
            content = await read_capped(response, limits.json_bytes, f"The answer of {where}")
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    return Answer(response.status_code, response.headers, content, credentials(headers), authorization.startswith("Key "))


async def call(
    http: httpx2.AsyncClient,
    method: str,
    url: str,
    *,
    where: str,
    policy: RetryPolicy,
    limits: Limits,
    headers: Mapping[str, str],
    retry_status: Callable[[Answer], bool] = retryable_response,
    retry_error: Callable[[FalUnreachable], bool] = lambda exc: True,
    **kwargs: Any,
) -> Answer:
    """A request retried by the retry table, done or failed within `limits.deadline` seconds overall."""
    with anyio.move_on_after(limits.deadline):
        return await with_retries(
            lambda: fetch(http, method, url, where=where, limits=limits, headers=headers, **kwargs),
            policy,
            retry_status=retry_status,
            retry_error=retry_error,
        )
    raise FalUnreachable(f"{where} gave no complete answer within {limits.deadline:g} s.")


def summary(detail: Any) -> str:
    """fal's detail as one line: a string as it is, a validation list as `field: message; …`."""
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


def _size(count: int) -> str:
    return f"{count >> 20} MiB" if count >= 1 << 20 else f"{count >> 10} KiB"

"""The retry policy: which answers are retried, how often, and how long to wait (the README's Security section)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

import anyio

from pika_mcp.errors import FalUnreachable


class Answered(Protocol):
    """What the retry table looks at in an answer: its status and headers (an httpx2 response, or one read whole)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    async def aclose(self) -> None: ...


R = TypeVar("R", bound=Answered)

# Transient answers worth another try for every call except submit (a submit retried could make a second paid job).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# A 504 carrying this header is fal's own deadline (X-Fal-Request-Timeout): retrying cannot help.
TIMEOUT_TYPE_HEADER = "x-fal-request-timeout-type"
ATTEMPTS = 5
FIRST_DELAY = 0.5  # seconds, doubling
MAX_DELAY = 10.0
MAX_RETRY_AFTER = 60.0  # never sleep longer than this on a server's say-so


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = ATTEMPTS
    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep

    def backoff(self, attempt: int) -> float:
        """Delay after failed attempt number `attempt` (1-based), with a little jitter."""
        base = min(self.max_delay, self.first_delay * 2.0 ** (attempt - 1))
        return base * random.uniform(0.8, 1.0)


def retryable_response(response: Answered) -> bool:
    if response.status_code == 504 and TIMEOUT_TYPE_HEADER in response.headers:
        return False
    return response.status_code in RETRY_STATUSES


def retry_after(response: Answered) -> float | None:
    """Seconds from a Retry-After header (delta or HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, (when - datetime.now(UTC)).total_seconds()))


async def with_retries(
    send: Callable[[], Awaitable[R]],
    policy: RetryPolicy,
    *,
    retry_status: Callable[[R], bool] = retryable_response,
    retry_error: Callable[[FalUnreachable], bool] = lambda exc: True,
) -> R:
    """Send until an answer that is not retried, or until the attempts run out.

    Returns the last response (which may be an error answer); raises the last FalUnreachable (no answer at all).
    """
    for attempt in range(1, policy.attempts + 1):
        last = attempt == policy.attempts
        try:
            response = await send()
        except FalUnreachable as exc:
            if last or not retry_error(exc):
                raise
            await policy.sleep(policy.backoff(attempt))
            continue
        if last or not retry_status(response):
            return response
        await response.aclose()
        wait = retry_after(response)
        await policy.sleep(policy.backoff(attempt) if wait is None else wait)
    raise AssertionError("unreachable")  # pragma: no cover

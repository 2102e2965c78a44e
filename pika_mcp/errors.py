"""The one error tree of pika-mcp; foreign exceptions are translated into it at the edges.

    PikaError
    ├── ConfigError              a setting or environment variable is wrong
    ├── InputError               arguments a better-informed caller can fix (names the field)
    │   └── FileRefused          a local file that may not be uploaded
    ├── JobNotFound              no job with that id for this person
    ├── BudgetExceeded           the job would take the 24-hour spend past the cap
    └── FalError                 fal (or the sandbox) answered with an error or not at all
        ├── FalRejected          fal refused a request (4xx, e.g. a submit it would not accept)
        │   └── AnswerRefused    pika-mcp refused fal's answer: over a size cap, or naming a URL it will not follow
        ├── FalUnavailable       retries exhausted: 5xx, 429, or no answer at all
        │   └── FalUnreachable   no HTTP answer: a network error, a timeout, a deadline, a transfer too slow
        └── SubmitOutcomeUnknown the submit was sent but its answer was lost

Messages are sentences a user can act on. `FalError` carries fal's own data: the HTTP status,
`request_id`, `error_type` and `detail`.
"""

from __future__ import annotations

from typing import Any


class PikaError(Exception):
    """Base of every error pika-mcp raises on purpose."""


class ConfigError(PikaError):
    """A setting or environment variable is missing or malformed."""


class InputError(PikaError):
    """Arguments the caller can fix; the message names the field and what is allowed."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class FileRefused(InputError):
    """A local path that pika-mcp will not read or upload."""


class JobNotFound(PikaError):
    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"No job with id {job_id!r}. Call pika_list_jobs to see your jobs; ids look like "
            "fal request ids (uuid) or 'local-<uuid>'."
        )
        self.job_id = job_id


class BudgetExceeded(PikaError):
    def __init__(self, *, spent: float, cap: float, estimate: float) -> None:
        super().__init__(
            f"Refused by the budget: ${spent:.2f} spent in the last 24 hours, this job is estimated "
            f"at ${estimate:.2f}, and PIKA_MCP_BUDGET_USD caps spend at ${cap:.2f}. Nothing was sent "
            "to fal. Raise the budget or wait for earlier jobs to age out of the 24-hour window."
        )
        self.spent, self.cap, self.estimate = spent, cap, estimate


class FalError(PikaError):
    """fal answered with an error, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
        self.error_type = error_type
        self.detail = detail


class FalRejected(FalError):
    """fal refused the request; retrying the same request will not help."""


class FalUnavailable(FalError):
    """fal could not be reached or kept failing after the retries of the retry table."""


class AnswerRefused(FalRejected):
    """fal answered, but not within what pika-mcp accepts (too large, or a URL it will not follow): retrying will not help."""


class FalUnreachable(FalUnavailable):
    """No HTTP answer; `sent` is False only when the request provably never left (the connection never opened)."""

    def __init__(self, message: str, *, sent: bool = True, **data: Any) -> None:
        super().__init__(message, **data)
        self.sent = sent


class SubmitOutcomeUnknown(FalError):
    """The submit reached the network but its answer was lost: fal may or may not have the job."""


MIN_SECRET_CHARS = 8  # blanking out anything shorter would garble ordinary words (and it would be no secret)
REDACTED = "[redacted]"


def secret_parts(*secrets: str | None) -> list[str]:
    """Each secret and, for a fal key (`id:secret`), each half; longest first so that none is half-blanked."""
    parts = {p for s in secrets if s for p in (s, *s.split(":")) if len(p) >= MIN_SECRET_CHARS}
    return sorted(parts, key=len, reverse=True)


def scrub(value: Any, secrets: list[str]) -> Any:
    """`value` (text or JSON) with every secret blanked out: fal may echo a credential back in an error."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    return value

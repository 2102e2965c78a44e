"""A job: the record every store keeps, its statuses and their sets, its error kinds and how fal's failures map to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from pika_mcp.errors import FalError

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
QUEUED: Final = "queued"
RUNNING: Final = "running"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
STATUSES: tuple[JobStatus, ...] = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
LIVE: frozenset[str] = frozenset({QUEUED, RUNNING})  # fal may still change it: tracked, cancellable
FINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED})  # never moves back

# The kinds of `error.type` a failed job carries.
ErrorType = Literal["content_policy", "invalid_input", "provider_error", "not_found", "submit_outcome_unknown"]
CONTENT_POLICY: Final = "content_policy"  # a 422 whose detail type is content_policy_violation
INVALID_INPUT: Final = "invalid_input"  # any other 422
PROVIDER_ERROR: Final = "provider_error"  # any other failure fal reports
NOT_FOUND: Final = "not_found"  # fal no longer knows the request, or cancel answered NOT_FOUND
SUBMIT_OUTCOME_UNKNOWN: Final = "submit_outcome_unknown"  # the process died between sending a submit and reading the answer
ERROR_TYPES: tuple[ErrorType, ...] = (CONTENT_POLICY, INVALID_INPUT, PROVIDER_ERROR, NOT_FOUND, SUBMIT_OUTCOME_UNKNOWN)

LOCAL_OWNER = "local"  # the one person behind a stdio server
SAVING_NOTE = "fal finished; saving the video"  # a live job whose video is being saved says so

LOST_SUBMIT = (
    "pika-mcp stopped between sending the submit and reading fal's answer; fal may have the job. "
    "Check https://fal.ai/dashboard before retrying."
)


@dataclass(frozen=True)
class Job:
    """One generation job as a store keeps it; `tracker` is the tracker id of the process that follows it at fal."""

    local_id: str
    owner: str
    tool: str
    endpoint_id: str
    backend: str
    status: JobStatus
    estimated_cost_usd: float
    arguments: dict[str, Any]
    args_key: str
    created_at: float
    updated_at: float
    request_id: str | None = None
    queue_position: int | None = None
    status_url: str | None = None
    response_url: str | None = None
    cancel_url: str | None = None
    video: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cancel_requested: bool = False
    tracker: str | None = None
    cancel_outcome: str | None = None

    @property
    def job_id(self) -> str:
        return self.request_id or self.local_id

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def submitted(self) -> bool:
        return self.request_id is not None

    @property
    def saving(self) -> bool:
        """fal finished and its answer is recorded, the local copy is not written yet: still `running`."""
        return not self.finished and self.video is not None

    @property
    def error_type(self) -> str | None:
        return None if self.error is None else self.error.get("type")


def job_error(kind: ErrorType, message: str, detail: Any = None) -> dict[str, Any]:
    """A failed job's `error`, as the store keeps it and the job view shows it."""
    return {"type": kind, "message": message, "detail": detail}


def lost_submit(message: str = LOST_SUBMIT) -> dict[str, Any]:
    """The error of a submit whose answer was never read: fal may have made the job (and may bill it)."""
    return job_error(SUBMIT_OUTCOME_UNKNOWN, message)


def failure(exc: FalError) -> dict[str, Any]:
    """fal's error for a failed job, classified as one of the error kinds."""
    detail = exc.detail
    if exc.status_code == 422:
        items = detail if isinstance(detail, list) else []
        if any(isinstance(i, dict) and i.get("type") == "content_policy_violation" for i in items):
            return job_error(CONTENT_POLICY, str(exc), detail)
        return job_error(INVALID_INPUT, str(exc), detail)
    if exc.status_code == 404:
        return job_error(NOT_FOUND, str(exc), detail)
    return job_error(PROVIDER_ERROR, str(exc), detail)

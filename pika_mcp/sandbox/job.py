"""One sandbox job: its timeline derived from the clock, and what fal would answer about it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pika_mcp.sandbox.config import FailSpec

Phase = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
Outcome = Literal["ok", "failed", "cancelled", "render_failed"]
CancelKind = Literal["queued", "running"]
VIDEO_FILE_NAME = "output.mp4"
CANCELLED_DETAIL = "Request was cancelled."


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


@dataclass(frozen=True)
class Job:
    """A stored job; its phase is a function of the clock, the cancel and the rendered file."""

    seq: int
    request_id: str
    endpoint_id: str
    app: str
    body: dict[str, Any]
    gateway_request_id: str
    submitted_at: float
    queue_seconds: float
    run_seconds: float
    failure: FailSpec | None = None
    cancel_kind: CancelKind | None = None
    cancelled_at: float | None = None
    cancel_done_at: float | None = None
    video_path: str | None = None
    video_size: int | None = None
    render_error: str | None = None

    @property
    def started_at(self) -> float:
        return self.submitted_at + self.queue_seconds

    @property
    def ends_at(self) -> float:
        end = self.started_at + self.run_seconds
        if self.cancel_kind == "queued" and self.cancelled_at is not None:
            return self.cancelled_at
        if self.cancel_done_at is not None:
            return min(end, self.cancel_done_at)
        return end

    @property
    def outcome(self) -> Outcome | None:
        """How the job ends, or None while that still waits on the renderer."""
        if self.cancel_kind is not None:
            return "cancelled"
        if self.failure is not None:
            return "failed"
        if self.render_error is not None:
            return "render_failed"
        return "ok" if self.video_path is not None else None

    @property
    def needs_render(self) -> bool:
        return self.cancel_kind is None and self.failure is None and self.outcome is None

    def phase(self, now: float) -> Phase:
        if self.cancel_kind == "queued":
            return "COMPLETED"
        if now < self.started_at:
            return "IN_QUEUE"
        if now < self.ends_at or self.outcome is None:
            return "IN_PROGRESS"
        return "COMPLETED"

    def next_change(self, now: float) -> float | None:
        """The next clock time at which this job's own phase changes, if the clock decides it."""
        later = [t for t in (self.started_at, self.ends_at) if t > now]
        return min(later) if later else None

    def logs(self, now: float) -> list[dict[str, Any]]:
        """Runner log lines up to `now`, in fal's shape."""
        lines: list[tuple[float, str, str]] = []
        if self.phase(now) != "IN_QUEUE" and self.cancel_kind != "queued":
            lines.append((self.started_at, "INFO", f"Runner picked up {self.endpoint_id}."))
            lines.append((self.started_at, "INFO", "Rendering a local preview, not Pika's model."))
        if self.phase(now) == "COMPLETED":
            lines.append((self.ends_at, *_closing_line(self.outcome)))
        return [{"message": message, "level": level, "source": "USER", "timestamp": iso(at)} for at, level, message in lines]

    def result(self, base_url: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        """The status code, body and headers fal answers at this finished job's response URL."""
        outcome = self.outcome
        if outcome == "ok":
            url = f"{base_url}/{self.video_path}"
            video = {"url": url, "content_type": "video/mp4", "file_name": VIDEO_FILE_NAME}
            return 200, {"video": {**video, "file_size": self.video_size}}, {}
        if outcome == "cancelled":
            spec = FailSpec(499, CANCELLED_DETAIL, "client_cancelled")
        elif outcome == "render_failed":
            spec = FailSpec(detail=f"The sandbox could not render the video: {self.render_error}")
        else:
            assert self.failure is not None
            spec = self.failure
        return error_answer(spec)


def error_answer(spec: FailSpec) -> tuple[int, dict[str, Any], dict[str, str]]:
    """fal's error body for a failed job: a `detail` list for 422, else detail plus error_type."""
    if spec.status == 422:
        item = {"loc": list(spec.loc), "msg": spec.detail, "type": spec.error_type}
        return 422, {"detail": [item]}, {}
    body = {"detail": spec.detail, "error_type": spec.error_type}
    return spec.status, body, {"X-Fal-Error-Type": spec.error_type}


def _closing_line(outcome: Outcome | None) -> tuple[str, str]:
    if outcome == "ok":
        return "INFO", "Preview video written."
    if outcome == "cancelled":
        return "WARN", "Request was cancelled."
    return "ERROR", "Generation failed; the result URL carries the error."

"""How fal's answers move a job: a status becomes `queued` or `running`; a completed job's result becomes its video,
its failure (classified), or its cancel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pika_mcp.errors import FalRejected, FalUnavailable
from pika_mcp.job import CANCELLED, FAILED, PROVIDER_ERROR, QUEUED, RUNNING, JobStatus, failure, job_error
from pika_mcp.queue import FalQueue, Status


def live_status(status: Status) -> tuple[JobStatus, int | None]:
    """A not-yet-completed status as the job's (status, queue position)."""
    if status.state == "IN_QUEUE":
        return QUEUED, status.queue_position
    return RUNNING, None


@dataclass(frozen=True)
class Settled:
    """What a completed job's result says: `video` (fal's answer, as the store keeps it) or a final status."""

    status: JobStatus | None = None  # None: it made a video
    changes: dict[str, Any] = field(default_factory=dict)
    video: dict[str, Any] | None = None


async def settle_result(queue: FalQueue, response_url: str) -> Settled:
    """Fetch and read the result of a job fal reports COMPLETED (fal reports failures as COMPLETED too: only the
    result shows the error). Raises FalUnavailable when fal cannot be reached: the job is fine, ask again later."""
    try:
        output = await queue.result(response_url)
    except FalUnavailable as exc:
        if exc.status_code is None:
            raise
        return Settled(FAILED, {"error": failure(exc)})
    except FalRejected as exc:
        if exc.status_code == 499 or exc.error_type == "client_cancelled":
            return Settled(CANCELLED)
        return Settled(FAILED, {"error": failure(exc)})
    video = output.get("video") if isinstance(output, dict) else None
    if not isinstance(video, dict) or not isinstance(video.get("url"), str):
        return Settled(FAILED, {"error": job_error(PROVIDER_ERROR, "fal's result has no video.", output)})
    stored = {
        "url": queue.store(video["url"]),
        "content_type": video.get("content_type") or "video/mp4",
        "file_size": video.get("file_size") if isinstance(video.get("file_size"), int) else None,
    }
    return Settled(video=stored)

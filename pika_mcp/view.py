"""The job view: the one shape every job tool and resource returns, and the text line that leads the caller."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from pika_mcp.catalog import BY_ID, usd
from pika_mcp.ledger import Job

ErrorType = Literal["content_policy", "invalid_input", "provider_error", "not_found", "submit_outcome_unknown"]


class VideoView(BaseModel):
    url: str | None
    content_type: str | None = None
    file_size: int | None = None
    local_path: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    poster_path: str | None = None
    save_error: str | None = Field(None, description="Why the video could not be saved locally; fal's url works until it expires.")


def _detail_items(value: Any) -> Any:
    """fal's detail is text, an object, or a list of objects (a 422's `loc`/`msg`/`type`); anything else becomes text."""
    if isinstance(value, list):
        return [item if isinstance(item, dict | str) else str(item) for item in value]
    return value if value is None or isinstance(value, dict | str) else str(value)


class ErrorView(BaseModel):
    type: ErrorType
    message: str
    detail: Annotated[str | list[dict[str, Any] | str] | dict[str, Any] | None, BeforeValidator(_detail_items)] = Field(
        None, description="fal's own error detail, as fal sent it."
    )


class JobView(BaseModel):
    """One Pika generation job as pika-mcp tracks it."""

    job_id: str = Field(description="fal's request id, or local-<uuid> until fal answered the submit.")
    tool: str
    endpoint_id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    queue_position: int | None
    created_at: str
    updated_at: str
    estimated_cost_usd: float
    cost_is_estimate: bool = Field(False, description="fal publishes no price for this call; the cost is pika-mcp's estimate.")
    backend: Literal["fal", "sandbox"]
    deduplicated: bool = False
    video: VideoView | None
    error: ErrorView | None
    poster_uri: str | None = None
    note: str | None = None


class JobList(BaseModel):
    jobs: list[JobView]
    spend_24h_usd: float


class UploadView(BaseModel):
    url: str
    content_type: str
    file_size: int
    sha256: str


SANDBOX_NOTE = "Sandbox backend: the video is a local preview, not Pika's model, and costs nothing."


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_view(job: Job, *, deduplicated: bool = False, public_url: str | None = None) -> JobView:
    video = None
    if job.video is not None:
        video = VideoView(**{**job.video, "url": public_url or job.video.get("url")})
    return JobView(
        job_id=job.job_id,
        tool=job.tool,
        endpoint_id=job.endpoint_id,
        status=job.status,
        queue_position=job.queue_position if job.status == "queued" else None,
        created_at=rfc3339(job.created_at),
        updated_at=rfc3339(job.updated_at),
        estimated_cost_usd=job.estimated_cost_usd,
        cost_is_estimate=job.backend == "fal" and _unpublished(job),
        backend=job.backend,  # type: ignore[arg-type]
        deduplicated=deduplicated,
        video=video,
        error=ErrorView(**job.error) if job.error else None,
        poster_uri=job_uri(job.job_id) + "/poster" if job.video and job.video.get("poster_path") else None,
        note=SANDBOX_NOTE if job.backend == "sandbox" else None,
    )


def _unpublished(job: Job) -> bool:
    endpoint = BY_ID.get(job.endpoint_id)
    return endpoint is not None and endpoint.price.unpublished(job.arguments)


def job_uri(job_id: str) -> str:
    return f"pika://jobs/{job_id}"


def headline(view: JobView) -> str:
    """The one readable line: status, id, cost, and the exact next call while unfinished."""
    cost = f"estimated cost {usd(view.estimated_cost_usd)}"
    cost += " (sandbox, free)" if view.backend == "sandbox" else " (fal publishes no price; our estimate)" if view.cost_is_estimate else ""
    again = " (an identical call from the last 10 minutes; pass force_new=true to pay for a new one)" if view.deduplicated else ""
    lead = f"Job {view.job_id} ({view.tool}) {'is ' if view.status in ('queued', 'running') else ''}{view.status}{again}; {cost}."
    if view.status == "queued":
        where = f" Position {view.queue_position} in fal's queue." if view.queue_position is not None else ""
        return f"{lead}{where} Not finished yet: call pika_wait_for_job(job_id=\"{view.job_id}\") to keep waiting."
    if view.status == "running":
        return f"{lead} Not finished yet: call pika_wait_for_job(job_id=\"{view.job_id}\") to keep waiting."
    if view.status == "succeeded" and view.video is not None:
        where = view.video.local_path or view.video.url
        return f"{lead} The video is ready: {where}"
    if view.status == "failed" and view.error is not None:
        advice = (
            " fal may have the job: check https://fal.ai/dashboard before retrying."
            if view.error.type == "submit_outcome_unknown"
            else ""
        )
        return f"{lead} {view.error.type}: {view.error.message}{advice}"
    return lead

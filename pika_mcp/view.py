"""The job view: the one shape every job tool and resource returns, and the text line that leads the caller."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from pika_mcp.catalog import BY_ID, usd
from pika_mcp.job import FAILED, LIVE, QUEUED, RUNNING, SAVING_NOTE, SUBMIT_OUTCOME_UNKNOWN, SUCCEEDED, ErrorType, Job, JobStatus
from pika_mcp.models import MEDIA_FIELDS


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
    save_error: str | None = Field(
        None, description="Why the video could not be saved locally; fal's url works until it expires."
    )
    pruned_at: str | None = Field(None, description="When `pika-mcp jobs --prune` deleted the local copy.")


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
    status: JobStatus
    queue_position: int | None
    created_at: str
    updated_at: str
    estimated_cost_usd: float
    cost_is_estimate: bool = Field(False, description="fal publishes no price for this call; the cost is pika-mcp's estimate.")
    backend: Literal["fal", "sandbox"]
    deduplicated: bool = False
    title: str | None = None
    prompt: str | None = None
    inputs: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Media inputs as sent to fal (data: URIs left out)."
    )
    resource_uri: str
    video: VideoView | None
    error: ErrorView | None
    poster_uri: str | None = None
    cancel_outcome: str | None = Field(None, description="fal's answer to the last cancel.")
    tracked_by: str | None = Field(None, description="The server process (peer) that follows this live job at fal.")
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
    """The view of a job. A job that fal finished is `running` until its video is saved (the ledger keeps it live),
    so every view says the same; paths name files that exist, or are null."""
    video = None
    if job.video is not None and job.status == SUCCEEDED:
        facts = {**job.video, "url": public_url or job.video.get("url")}
        for key in ("local_path", "poster_path"):
            if facts.get(key) and not Path(facts[key]).is_file():
                facts[key] = None
        video = VideoView(**facts)
    endpoint = BY_ID.get(job.endpoint_id)
    notes = [SAVING_NOTE] if job.saving else []
    if job.backend == "sandbox":
        notes.append(SANDBOX_NOTE)
    return JobView(
        job_id=job.job_id,
        tool=job.tool,
        endpoint_id=job.endpoint_id,
        status=job.status,
        queue_position=job.queue_position if job.status == QUEUED else None,
        created_at=rfc3339(job.created_at),
        updated_at=rfc3339(job.updated_at),
        estimated_cost_usd=job.estimated_cost_usd,
        cost_is_estimate=job.backend == "fal" and _unpublished(job),
        backend=job.backend,  # type: ignore[arg-type]
        deduplicated=deduplicated,
        title=endpoint.title if endpoint else None,
        prompt=prompt if isinstance(prompt := job.arguments.get("prompt"), str) else None,
        inputs=media_inputs(job.arguments),
        resource_uri=job_uri(job.job_id),
        video=video,
        error=ErrorView(**job.error) if job.error else None,
        poster_uri=job_uri(job.job_id) + "/poster" if video is not None and video.poster_path else None,
        cancel_outcome=job.cancel_outcome,
        tracked_by=None if job.finished else job.tracker,
        note=" ".join(f"{n}." if not n.endswith(".") else n for n in notes) or None,
    )


def media_inputs(arguments: dict[str, Any]) -> dict[str, str | list[str]]:
    """The media fields of a body as sent to fal, without `data:` URIs (large, and the caller has them)."""
    kept: dict[str, str | list[str]] = {}
    for name in MEDIA_FIELDS:
        value = arguments.get(name)
        if isinstance(value, str) and not value.startswith("data:"):
            kept[name] = value
        elif isinstance(value, list):
            refs = [v for v in value if isinstance(v, str) and not v.startswith("data:")]
            if refs:
                kept[name] = refs
    return kept


def _unpublished(job: Job) -> bool:
    endpoint = BY_ID.get(job.endpoint_id)
    return endpoint is not None and endpoint.price.unpublished(job.arguments)


def job_uri(job_id: str) -> str:
    return f"pika://jobs/{job_id}"


def headline(view: JobView) -> str:
    """The one readable line: status, id, cost, and the exact next call while unfinished."""
    cost = f"estimated cost {usd(view.estimated_cost_usd)}"
    cost += (
        " (sandbox, free)"
        if view.backend == "sandbox"
        else " (fal publishes no price; our estimate)"
        if view.cost_is_estimate
        else ""
    )
    again = " (an identical call from the last 10 minutes; pass force_new=true to pay for a new one)" if view.deduplicated else ""
    lead = f"Job {view.job_id} ({view.tool}) {'is ' if view.status in LIVE else ''}{view.status}{again}; {cost}."
    keep_waiting = f' Not finished yet: call pika_wait_for_job(job_id="{view.job_id}") to keep waiting.'
    if view.status == QUEUED:
        where = f" Position {view.queue_position} in fal's queue." if view.queue_position is not None else ""
        return f"{lead}{where}{keep_waiting}"
    if view.status == RUNNING:
        saving = f" {SAVING_NOTE}." if view.note and view.note.startswith(SAVING_NOTE) else ""
        return f"{lead}{saving}{keep_waiting}"
    if view.status == SUCCEEDED and view.video is not None:
        video = view.video
        if video.local_path:
            saved = f" Saved at {video.local_path}."
        elif video.pruned_at:
            saved = f" The local copy was pruned at {video.pruned_at}."
        else:
            saved = f" Not saved locally: {video.save_error or 'the copy is missing'}."
        return f"{lead} The video is ready: {video.url}{saved} Job resource: {view.resource_uri}"
    if view.status == FAILED and view.error is not None:
        advice = (
            " fal may have the job: check https://fal.ai/dashboard before retrying."
            if view.error.type == SUBMIT_OUTCOME_UNKNOWN
            else ""
        )
        return f"{lead} {view.error.type}: {view.error.message}{advice}"
    return lead

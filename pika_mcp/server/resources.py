"""Jobs as resources: pika://jobs (the caller's listing), pika://jobs/{job_id} (one job view) and its poster."""

from __future__ import annotations

from pathlib import Path

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from pika_mcp.errors import PikaError
from pika_mcp.job import Job
from pika_mcp.jobs import JobService
from pika_mcp.server.edge import Ready
from pika_mcp.server.owner import owner_of

JOBS_URI = "pika://jobs"
JOB_PREFIX = JOBS_URI + "/"


def install(mcp: MCPServer, ready: Ready) -> None:
    """Register the job resources on `mcp`; each waits for the runtime, and answers only the caller's own jobs."""

    @mcp.resource(JOBS_URI, name="jobs", title="Your Pika jobs", mime_type="application/json",
                  description="Your jobs, newest first, and the estimated spend of the last 24 hours.")  # fmt: skip
    async def jobs() -> str:
        edge = await ready()
        return edge.results.listing(owner_of()).model_dump_json()

    @mcp.resource(JOB_PREFIX + "{job_id}", name="job", title="A Pika job", mime_type="application/json",
                  description="One job view; subscribe for an update at every status change.")  # fmt: skip
    async def job(job_id: str) -> str:
        edge = await ready()
        try:
            found = edge.service.get(owner_of(), job_id)
        except PikaError:
            raise ResourceNotFoundError(f"No job with id {job_id!r}.") from None
        return edge.results.view(found).model_dump_json()

    @mcp.resource(JOB_PREFIX + "{job_id}/poster", name="poster", title="A job's poster frame", mime_type="image/jpeg",
                  description="A JPEG frame of a finished job's video.")  # fmt: skip
    async def poster(job_id: str) -> bytes:
        edge = await ready()
        found = edge.service.lookup(owner_of(), job_id)
        path = (found.video or {}).get("poster_path") if found else None
        if not path or not Path(path).is_file():
            raise ResourceNotFoundError(f"Job {job_id!r} has no poster (unknown job, not finished, or no media extra).")
        return Path(path).read_bytes()


def job_for_uri(service: JobService, uri: str) -> Job | None:
    """The caller's job that `pika://jobs/{job_id}` names, or None (another URI, or not theirs)."""
    if not uri.startswith(JOB_PREFIX) or "/" in uri[len(JOB_PREFIX) :]:
        return None
    return service.lookup(owner_of(), uri[len(JOB_PREFIX) :])

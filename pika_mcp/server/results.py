"""Tool results: a job as its view, one readable line and its poster; a listing; a refusal (isError)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from mcp_types import CallToolResult, ImageContent, TextContent
from pydantic import BaseModel

from pika_mcp.arguments import quote
from pika_mcp.errors import InputError, PikaError
from pika_mcp.job import STATUSES, Job
from pika_mcp.jobs import JobService
from pika_mcp.view import JobList, JobView, headline, job_view

MAX_LIST = 200  # jobs in one listing: a page a model can read


class Results:
    """Renders the service's jobs for callers: every tool and resource that answers a job uses it."""

    def __init__(self, service: JobService) -> None:
        self._service = service

    def view(self, job: Job, deduplicated: bool = False) -> JobView:
        return job_view(job, deduplicated=deduplicated, public_url=self._service.video_url(job))

    def result(self, job: Job, deduplicated: bool = False) -> CallToolResult:
        """The job view as structured content, one readable line, and the poster once there is one.

        No resource_link items: agent frameworks mishandle them (LangChain's adapter makes each a file block that
        OpenAI's chat API rejects; pydantic-ai 1.x reads every one through the server). The text names the URIs."""
        view = self.view(job, deduplicated)
        content: list[Any] = [TextContent(type="text", text=headline(view))]
        if view.video is not None and view.video.poster_path:
            try:
                data = base64.b64encode(Path(view.video.poster_path).read_bytes()).decode()
                content.append(ImageContent(type="image", data=data, mime_type="image/jpeg"))
            except OSError:  # pruned between the view and the read
                pass
        return CallToolResult(content=content, structured_content=view.model_dump(mode="json"))

    def listing(self, owner: str, status: str | None = None, limit: int = 20) -> JobList:
        """The owner's jobs, newest first, and their spend in the last 24 hours; bad arguments are refused."""
        if status is not None and status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}; got {quote(status)}.")
        if not 1 <= limit <= MAX_LIST:
            raise InputError(f"limit must be from 1 to {MAX_LIST}, got {quote(limit)}.")
        jobs, spent = self._service.list(owner, status, limit)
        return JobList(jobs=[self.view(j) for j in jobs], spend_24h_usd=spent)


def answer(text: str, structured: BaseModel) -> CallToolResult:
    """A successful result that is not a job: one line of text and the structured content."""
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured.model_dump(mode="json"))


def refusal(exc: PikaError) -> CallToolResult:
    """A call that produced no job and that a better-informed caller could fix: isError, the message says what to change."""
    return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)

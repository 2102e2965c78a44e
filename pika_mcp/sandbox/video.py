"""Making a finished job's MP4: `render.render_video` when it is available, else the shipped preview."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pika_mcp.sandbox.files import FileStore, replace
from pika_mcp.sandbox.job import VIDEO_FILE_NAME, Job
from pika_mcp.sandbox.preview import copy_preview
from pika_mcp.sandbox.state import Store

Fetch = Callable[[str], bytes | None]
Renderer = Callable[[str, dict[str, Any], Path, Fetch], None]

logger = logging.getLogger(__name__)


def default_renderer() -> Renderer:
    """The real renderer (needs the media extra), or a copy of the fixed preview without it.

    Imported at the first render, in the render thread: PyAV and Pillow stay off the server's start path.
    """

    def render(endpoint_id: str, body: dict[str, Any], out: Path, fetch: Fetch) -> None:
        try:
            from pika_mcp.sandbox.render import render_video
        except ImportError:
            copy_preview(endpoint_id, body, out, fetch)
            return
        render_video(endpoint_id, body, out, fetch)

    return render


def render_job(renderer: Renderer, job: Job, files: FileStore, store: Store) -> None:
    """Render into a temporary name, then record the file, or the error as a failed job."""
    relative = files.result_path(job.request_id, VIDEO_FILE_NAME)
    target = files.disk(relative)
    assert target is not None
    temporary = target.with_name(f".rendering-{VIDEO_FILE_NAME}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        renderer(job.endpoint_id, dict(job.body), temporary, files.fetch)
        if not temporary.is_file() or temporary.stat().st_size == 0:
            raise RuntimeError("the renderer wrote no video file")
        replace(temporary, target)
    except Exception as exc:  # any renderer failure is the job's failure, never the sandbox's
        logger.warning("Rendering %s failed: %s", job.request_id, exc, exc_info=True)
        temporary.unlink(missing_ok=True)
        store.finish_render(job.request_id, None, None, f"{type(exc).__name__}: {exc}")
        return
    size = target.stat().st_size
    store.add_file(relative, "video/mp4", size)
    store.finish_render(job.request_id, relative, size, None)

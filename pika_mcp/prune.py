"""Pruning: deletes the videos and posters pika-mcp itself saved, for jobs finished long enough ago, as the ledger records them."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from pika_mcp.job import Job
from pika_mcp.store import JobStore
from pika_mcp.view import rfc3339

log = logging.getLogger(__name__)

DAY = 86_400.0


@dataclass(frozen=True)
class Pruned:
    job: Job
    video: Path | None  # the copy deleted (or to delete, on a dry run)
    poster: Path | None
    freed: int
    kept: str | None = None  # why the job's copy was left alone


def prune(ledger: JobStore, days: float, *, dry_run: bool = False, now: float | None = None) -> list[Pruned]:
    """Every person's succeeded jobs whose final status is older than `days`: delete the video pika-mcp saved and its
    poster, and mark the job `pruned_at` (never downloaded again). Never any other file, and not a recorded copy whose
    size no longer matches the ledger (the user replaced it); a file another program holds open (Windows) is kept."""
    now = time.time() if now is None else now
    done = []
    for job in ledger.prunable(now - days * DAY):
        video = dict(job.video or {})
        local = Path(video["local_path"]) if video.get("local_path") else None
        poster = Path(video["poster_path"]) if video.get("poster_path") else None
        size, poster_size = _size(local), _size(poster)
        if local is not None and size is not None and video.get("file_size") is not None and size != video["file_size"]:
            done.append(Pruned(job, None, None, 0, kept=f"{local} changed since pika-mcp saved it"))
            continue
        if not dry_run:
            try:
                for path in (local, poster):
                    if path is not None:
                        path.unlink(missing_ok=True)
            except OSError as exc:  # Windows: a player holds the file open
                done.append(Pruned(job, None, None, 0, kept=f"could not delete {exc.filename}: {exc.strerror}"))
                continue
            ledger.update(job, video={**video, "local_path": None, "poster_path": None, "pruned_at": rfc3339(now)}, note="pruned")
        done.append(
            Pruned(
                job,
                local if size is not None else None,
                poster if poster_size is not None else None,
                (size or 0) + (poster_size or 0),
            )
        )
    return done


def _size(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return os.stat(path).st_size
    except OSError:
        return None

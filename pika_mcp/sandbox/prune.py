"""Forgetting old sandbox work: finished jobs, their videos and stored files older than a cut-off (`jobs --prune`)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from pika_mcp.sandbox.files import FILES_PREFIX
from pika_mcp.sandbox.state import DATABASE_NAME, Store


@dataclass
class Pruned:
    """What a prune removed (or, in a dry run, would remove)."""

    jobs: list[str] = field(default_factory=list)  # request ids of finished jobs whose records went
    files: list[str] = field(default_factory=list)  # stored files, as `files/<token>/<name>`
    freed_bytes: int = 0
    in_use: list[str] = field(default_factory=list)  # files another program held open (Windows): kept for next time


def prune_sandbox(state_dir: Path, older_than_seconds: float, dry_run: bool = False, now: float | None = None) -> Pruned:
    """Delete the sandbox's finished jobs that ended, and stored files last written, more than `older_than_seconds` ago.

    Jobs still queued or running stay, and so does the state (database, token, address). Safe while a sandbox serves
    the folder: it reads each job and file from disk when asked, and answers 404 for what is gone."""
    now = time.time() if now is None else now
    cutoff = now - older_than_seconds
    pruned = Pruned()
    if not (state_dir / DATABASE_NAME).is_file():
        return pruned
    store = Store(state_dir / DATABASE_NAME)
    try:
        for job in store.jobs_submitted_before(cutoff):
            if job.phase(now) != "COMPLETED" or job.ends_at > cutoff:
                continue
            if job.video_path is not None and not _remove(state_dir, job.video_path, store, pruned, dry_run):
                continue  # its video is in use: the record stays with it
            pruned.jobs.append(job.request_id)
            if not dry_run:
                store.drop_job(job.request_id)
        for path in sorted((state_dir / "files").glob("*/*")):
            relative = path.relative_to(state_dir).as_posix()
            if relative not in pruned.files and path.is_file() and path.stat().st_mtime < cutoff:
                _remove(state_dir, relative, store, pruned, dry_run)
        _drop_stale_parts(state_dir / "parts", cutoff, dry_run)
        if not dry_run:
            store.drop_expired_tokens(now)
            _drop_empty_folders(state_dir / "files")
    finally:
        store.close()
    return pruned


def _remove(state_dir: Path, relative: str, store: Store, pruned: Pruned, dry_run: bool) -> bool:
    """Delete one stored file and its record; False when another program holds it open."""
    path = state_dir / relative
    if not relative.startswith(FILES_PREFIX) or not path.is_file():
        return True
    size = path.stat().st_size
    if not dry_run:
        try:
            os.remove(path)
        except PermissionError:  # Windows: open in another program (a player, the server sending it)
            pruned.in_use.append(relative)
            return False
        store.drop_file(relative)
    pruned.files.append(relative)
    pruned.freed_bytes += size
    return True


def _drop_stale_parts(parts: Path, cutoff: float, dry_run: bool) -> None:
    """Parts of multipart uploads started before the cut-off and never completed."""
    for folder in parts.glob("*"):
        if not folder.is_dir() or dry_run:
            continue
        newest = max((p.stat().st_mtime for p in folder.iterdir()), default=folder.stat().st_mtime)
        if newest < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _drop_empty_folders(files: Path) -> None:
    for folder in files.glob("*"):
        if folder.is_dir() and not any(folder.iterdir()):
            try:
                folder.rmdir()
            except OSError:  # a file arrived meanwhile
                pass

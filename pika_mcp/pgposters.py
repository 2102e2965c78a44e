"""Posters in the PostgreSQL ledger: written with the job that names one, and copied once into each peer's home,
so `pika://jobs/{id}/poster` and the poster in a result answer on every peer."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from pika_mcp.job import Job
from pika_mcp.owners import private_file, private_folder


class PgPosters:
    """`folder` is this peer's cache of the posters kept in the database (None: no cache, paths left as stored)."""

    def __init__(self, folder: Path | None, transaction: Callable[[], AbstractContextManager[psycopg.Connection[Any]]]) -> None:
        self._dir = folder
        self._transaction = transaction
        self._missing: set[str] = set()  # jobs whose poster the database does not have: not asked again

    def keep(self, db: psycopg.Connection[Any], job: Job, changes: dict[str, Any]) -> None:
        if "video" not in changes or job.video is None:
            return
        path = job.video.get("poster_path")
        if path is None:
            db.execute("DELETE FROM posters WHERE local_id = %s", (job.local_id,))
        elif Path(path).is_file():
            db.execute(
                "INSERT INTO posters VALUES (%s, %s) ON CONFLICT (local_id) DO UPDATE SET jpeg = EXCLUDED.jpeg",
                (job.local_id, Path(path).read_bytes()),
            )

    def cached(self, job: Job) -> Job:
        """A job whose poster_path names this peer's copy of the poster kept in the database (fetched once)."""
        video = job.video
        if self._dir is None or video is None or not video.get("poster_path"):
            return job
        local = self._dir / f"{job.local_id}.jpg"
        if not local.is_file() and job.local_id not in self._missing:
            with self._transaction() as db:
                row = db.execute("SELECT jpeg FROM posters WHERE local_id = %s", (job.local_id,)).fetchone()
            if row is None:
                self._missing.add(job.local_id)
            else:
                private_folder(self._dir)
                partial = local.with_suffix(f".{time.monotonic_ns()}.part")
                partial.write_bytes(bytes(row["jpeg"]))
                private_file(partial)
                partial.replace(local)
        if local.is_file():
            return replace(job, video={**video, "poster_path": str(local)})
        return job

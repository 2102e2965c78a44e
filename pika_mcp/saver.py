"""Saving finished videos: download, measure and poster in the background, then the job is `succeeded`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio

from pika_mcp.errors import PikaError
from pika_mcp.job import SUCCEEDED, Job
from pika_mcp.money import SPEND_WINDOW
from pika_mcp.outputs import Outputs
from pika_mcp.queue import FalQueue
from pika_mcp.store import Alive, JobStore

log = logging.getLogger(__name__)

SAVE_ERROR_CHARS = 300  # a save_error is a sentence for the reader, not a traceback
RETRY_SAVES_WITHIN = SPEND_WINDOW  # a video that could not be saved is tried again for a day (fal's URLs expire)

Listener = Callable[[Job], Awaitable[None]]


class Saver:
    """Finished means saved: a job fal finished stays `running` until its local copy (or why there is none) is recorded."""

    def __init__(
        self,
        ledger: JobStore,
        queue: FalQueue,
        outputs: Outputs | None,
        *,
        on_saved: Listener,
        tracker_id: Callable[[], str],
        alive: Alive,
        clock: Callable[[], float],
    ) -> None:
        self._ledger = ledger
        self._queue = queue
        self._outputs = outputs
        self._on_saved = on_saved
        self._tracker_id = tracker_id
        self._alive = alive
        self._clock = clock
        self._pending: list[
            tuple[Callable[..., Coroutine[Any, Any, Any]], tuple[Any, ...]]
        ] = []  # handed over before `forever` started
        self._spawn: Callable[..., Any] | None = None

    @property
    def enabled(self) -> bool:
        """False without an output folder: fal's answer is then the end of a job."""
        return self._outputs is not None

    def later(self, job: Job) -> None:
        """fal finished this job: save its video in the background (see `forever`)."""
        self._background(self.save, job)

    def warm(self) -> None:
        """A job was submitted: have the measuring child ready by the time fal finishes."""
        if self._outputs is not None:
            self._background(self._outputs.measurer.warm)

    def _background(self, work: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        if self._spawn is None:
            self._pending.append((work, args))
        else:
            self._spawn(work, *args)

    async def forever(self) -> None:
        """Save each video handed over, concurrently (downloads are bounded by the outputs' own pool)."""
        async with anyio.create_task_group() as tg:
            self._spawn = tg.start_soon
            try:
                while self._pending:
                    work, args = self._pending.pop(0)
                    tg.start_soon(work, *args)
                await anyio.sleep_forever()
            finally:
                self._spawn = None

    async def recover(self) -> None:
        """Videos of succeeded jobs that could not be saved (`save_error`): try once more at start and now and then."""
        if self._outputs is None:
            return
        try:
            jobs = self._ledger.claim_downloads(self._tracker_id(), self._alive, self._clock() - RETRY_SAVES_WITHIN)
        except Exception:  # starting never depends on a save
            log.exception("looking for unsaved videos failed")
            return
        for job in jobs:
            await self.save(job)

    async def save(self, job: Job) -> None:
        """Download, measure and poster; then the job is `succeeded`, with `save_error` if the copy failed.

        Any failure becomes `save_error`: a hostile or broken answer must never stop the server or hold the job.
        A job already `succeeded` (a retry after `save_error`) only gets its local copy filled in."""
        assert job.video is not None
        try:
            if self._outputs is None:
                raise RuntimeError("no output folder")
            facts = await self._outputs.save(job, self._queue.url(job.video["url"]))
            video = {**job.video, **facts, "save_error": None}
        except Exception as exc:
            log.warning("could not save the video of %s: %s", job.job_id, exc)
            reason = str(exc) if isinstance(exc, PikaError) else f"{type(exc).__name__}: {exc}"
            video = {**job.video, "save_error": reason[:SAVE_ERROR_CHARS]}
        try:
            if job.finished:
                saved = self._ledger.update(job, video=video)
            else:
                note = "saved" if video.get("local_path") else "not saved"
                saved = self._ledger.settle(job, SUCCEEDED, note=note, video=video) or self._ledger.reload(job)
        except Exception:
            log.exception("recording the saved video of %s failed", job.job_id)
            return
        await self._on_saved(saved)

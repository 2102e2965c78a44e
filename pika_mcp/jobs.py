"""The job service: submit with an intent row first, dedupe, budget, wait, cancel and list; one per server."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from pika_mcp.arguments import Call
from pika_mcp.catalog import Endpoint
from pika_mcp.errors import FalError, JobNotFound, SubmitOutcomeUnknown
from pika_mcp.following import RemoteWatch
from pika_mcp.job import CANCELLED, FAILED, LOST_SUBMIT, NOT_FOUND, QUEUED, Job, failure, job_error, lost_submit
from pika_mcp.liveness import Presence
from pika_mcp.models import media_refs
from pika_mcp.money import DEDUPE_WINDOW, SPEND_WINDOW, call_key, check_budget
from pika_mcp.money import estimate as estimate_cost
from pika_mcp.outputs import Outputs
from pika_mcp.queue import FalQueue
from pika_mcp.saver import Saver
from pika_mcp.store import JobStore
from pika_mcp.tracker import Tracker

log = logging.getLogger(__name__)

PROGRESS_EVERY = 5.0  # seconds between progress notifications while a call waits: clients expect one at least every 10
FOREIGN_RELOAD = 0.5  # a job another process tracks: re-read the ledger this often while waiting on it
ADOPT_EVERY = 10.0  # seconds between looks for jobs whose tracking process died (and ledger checkpoints)

Listener = Callable[[Job], Awaitable[None]]
Progress = Callable[[Job, float], Awaitable[None]]
MediaResolver = Callable[[Endpoint, dict[str, Any]], Awaitable[dict[str, Any]]]
ContentOf = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]  # local files named by their content (Inputs.content_of)


async def _no_media(endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
    return body


async def _as_named(body: dict[str, Any]) -> dict[str, Any]:
    return body


def _has_local_media(body: dict[str, Any]) -> bool:
    return any(isinstance(ref, str) and not ref.startswith(("https://", "http://")) for ref in media_refs(body))


class JobService:
    def __init__(
        self,
        ledger: JobStore,
        queue: FalQueue,
        *,
        backend: str,
        budget_usd: float | None = None,
        outputs: Outputs | None = None,
        resolve_media: MediaResolver = _no_media,
        content_of: ContentOf = _as_named,
        liveness: Presence | None = None,
        clock: Callable[[], float] = time.time,
        adopt_every: float = ADOPT_EVERY,
        remote: RemoteWatch | None = None,
    ) -> None:
        self.ledger = ledger
        self.queue = queue
        self.backend = backend
        self.budget_usd = budget_usd
        self._resolve_media = resolve_media
        self._content_of = content_of
        self._clock = clock
        self._liveness = liveness
        self._adopt_every = adopt_every
        self._changed: dict[str, anyio.Event] = {}
        self.listeners: list[Listener] = []
        alive = liveness.alive if liveness else (lambda tracker_id: False)
        self.saver = Saver(
            ledger, queue, outputs, on_saved=self._notify, tracker_id=lambda: self.tracker_id or "", alive=alive, clock=clock
        )
        on_video = self.saver.later if self.saver.enabled else None
        self.tracker = Tracker(ledger, queue, on_change=self._notify, on_video=on_video, remote=remote)

    @property
    def tracker_id(self) -> str | None:
        """This process's (or peer's) tracker id; a peer whose lease lapsed comes back under a new one."""
        return self._liveness.tracker_id if self._liveness else None

    # -- lifecycle ------------------------------------------------------------------------------

    async def recover(self) -> int:
        """Adopt the unfinished jobs of dead processes: an unanswered submit fails, the rest are tracked."""
        alive = self._liveness.alive if self._liveness else (lambda tracker_id: False)
        count = 0
        for job in self.ledger.claim_orphans(self.tracker_id or "", alive):
            if not job.submitted:
                self.ledger.settle(job, FAILED, error=lost_submit(), note="recovered after restart")
            elif job.saving:  # fal had finished; the process saving the video died: save it here
                self.saver.later(job)
            else:
                self.tracker.track(job, delay=0.0)
                count += 1
        return count

    async def recover_downloads(self) -> None:
        """Videos of succeeded jobs that could not be saved: try once more (at start, and now and then)."""
        await self.saver.recover()

    async def save_forever(self) -> None:
        """Save the videos of the jobs fal finishes, in the background, for as long as the server runs."""
        await self.saver.forever()

    async def adopt_forever(self) -> None:
        """Another process on this home may die with live jobs: take them over."""
        while True:
            await anyio.sleep(self._adopt_every)
            try:
                await self.recover()
                await self.recover_downloads()
                await anyio.to_thread.run_sync(self.ledger.checkpoint)
            except Exception:
                log.exception("adopting orphaned jobs failed")

    async def heard(self, job: Job) -> None:
        """Another peer changed this job (fleet.listen_forever): wake the waits and tell the listeners here."""
        await self._notify(job)

    async def _notify(self, job: Job) -> None:
        event = self._changed.pop(job.local_id, None)
        if event is not None:
            event.set()
        for listener in self.listeners:
            try:
                await listener(job)
            except Exception:
                log.exception("a job listener failed")

    # -- the tools ------------------------------------------------------------------------------

    def estimate(self, endpoint: Endpoint, body: dict[str, Any]) -> float:
        return estimate_cost(endpoint, body, self.backend)

    def _check(self, owner: str, key: str, force_new: bool, estimate: float) -> Job | None:
        now = self._clock()
        if not force_new and (earlier := self.ledger.recent_same(owner, key, now - DEDUPE_WINDOW)):
            return earlier
        if self.budget_usd is not None:
            check_budget(self.ledger.spend(owner, now - SPEND_WINDOW), estimate, self.budget_usd)
        return None

    async def submit(self, owner: str, endpoint: Endpoint, call: Call) -> tuple[Job, bool]:
        """Returns (job, deduplicated). Raises for a call that produced no job."""
        body = call.body()
        # A local file counts by its content, not its path: an edited image at the same path is a new call.
        key = call_key(endpoint, await self._content_of(body) if _has_local_media(body) else body)
        estimate = self.estimate(endpoint, body)
        if _has_local_media(body):  # refuse or dedupe before uploading anything; add_unless decides for good
            if earlier := self._check(owner, key, call.force_new, estimate):
                return earlier, True
        sent = await self._resolve_media(endpoint, body)
        now = self._clock()
        job = Job(
            local_id=f"local-{uuid.uuid4()}",
            owner=owner,
            tool=endpoint.tool,
            endpoint_id=endpoint.endpoint_id,
            backend=self.backend,
            status=QUEUED,
            estimated_cost_usd=estimate,
            arguments=sent,
            args_key=key,
            created_at=now,
            updated_at=now,
            tracker=self.tracker_id,
        )
        earlier = self.ledger.add_unless(
            job,
            dedupe_since=None if call.force_new else now - DEDUPE_WINDOW,
            budget=self.budget_usd,
            spend_since=now - SPEND_WINDOW,
        )
        if earlier is not None:  # an identical call got there while this one uploaded
            return earlier, True
        try:
            submitted = await self.queue.submit(endpoint.endpoint_id, sent)
        except SubmitOutcomeUnknown as exc:
            return self.ledger.update(job, status=FAILED, error=lost_submit(str(exc))), False
        except FalError as exc:
            self.ledger.update(job, status=FAILED, error=failure(exc), note="submit refused")
            raise
        except Exception as exc:  # sent, and an answer we could not read: fal may have the job (and bill it)
            log.exception("the submit of %s ended unexpectedly", job.local_id)
            return self.ledger.update(job, status=FAILED, error=lost_submit(f"{LOST_SUBMIT} ({type(exc).__name__})")), False
        try:
            job = self.ledger.update(
                job,
                request_id=submitted.request_id,
                status_url=submitted.status_url,
                response_url=submitted.response_url,
                cancel_url=submitted.cancel_url,
                queue_position=submitted.queue_position,
                note="submitted",
            )
        except Exception as exc:  # e.g. a request_id fal already gave another job
            log.exception("recording fal's answer for %s failed", job.local_id)
            return self.ledger.update(job, status=FAILED, error=lost_submit(f"{LOST_SUBMIT} ({type(exc).__name__})")), False
        self.tracker.track(job)
        self.saver.warm()
        await self._notify(job)
        return job, False

    def get(self, owner: str, job_id: str) -> Job:
        job = self.ledger.get(job_id, owner) if isinstance(job_id, str) and len(job_id) <= 200 else None
        if job is None:
            raise JobNotFound(str(job_id)[:200])
        if not job.finished:
            self.tracker.attention(job.local_id)
        return job

    def lookup(self, owner: str, job_id: str) -> Job | None:
        """The owner's job, or None; unlike `get`, not a look that speeds up its tracking."""
        return self.ledger.get(job_id, owner)

    def watch(self, local_id: str) -> None:
        """Someone subscribed to this job: follow it quickly until `unwatch`."""
        self.tracker.watch(local_id)

    def unwatch(self, local_id: str) -> None:
        self.tracker.unwatch(local_id)

    def video_url(self, job: Job) -> str | None:
        """The URL of a job's video as a caller can fetch it (a sandbox's stored path rebased on its live address)."""
        stored = (job.video or {}).get("url")
        return self.queue.url(stored) if stored else None

    async def wait(self, owner: str, job_id: str, timeout: float, progress: Progress | None = None) -> Job:
        """Wait up to `timeout` seconds for the job to finish; never cancels it."""
        job = self.get(owner, job_id)
        start = anyio.current_time()
        deadline = start + timeout
        with self.tracker.watching(job.local_id):
            while not job.finished and (remaining := deadline - anyio.current_time()) > 0:
                event = self._changed.setdefault(job.local_id, anyio.Event())
                step = PROGRESS_EVERY if self.tracker.tracks(job.local_id) else FOREIGN_RELOAD
                with anyio.move_on_after(min(step, remaining)):
                    await event.wait()
                job = self.ledger.reload(job)
                if progress is not None:
                    await progress(job, anyio.current_time() - start)
        return job

    async def cancel(self, owner: str, job_id: str) -> Job:
        job = self.get(owner, job_id)
        if job.finished or not job.submitted or job.saving:  # saving: fal already finished it
            return job
        try:
            outcome = await self.queue.cancel(job.cancel_url or "")
        except FalError as exc:
            raise type(exc)(
                f"The job {job.job_id} was not cancelled: {exc} It is still {job.status} and fal may still charge for it; "
                "call pika_cancel_job again to retry.",
                status_code=exc.status_code,
                request_id=exc.request_id,
                error_type=exc.error_type,
                detail=exc.detail,
            ) from exc
        job = self.ledger.reload(job)
        if job.finished:
            return job
        note = f"cancel: {outcome}"
        if outcome == "OK":
            settled = self.ledger.settle(
                job, CANCELLED, note=note, queue_position=None, cancel_requested=True, cancel_outcome=outcome
            )
            job = settled or self.ledger.reload(job)
            self.tracker.forget(job.local_id)
        elif outcome == "NOT_FOUND":
            error = job_error(NOT_FOUND, "fal no longer knows this request (cancel answered NOT_FOUND).")
            job = self.ledger.settle(job, FAILED, note=note, error=error, cancel_outcome=outcome) or self.ledger.reload(job)
            self.tracker.forget(job.local_id)
        elif outcome == "CANCELLATION_REQUESTED":
            job = self.ledger.update(job, cancel_requested=True, note=note, cancel_outcome=outcome)
            self.tracker.poke(job.local_id)
        else:  # ALREADY_COMPLETED: the tracker will settle it from the result
            job = self.ledger.update(job, note=note, cancel_outcome=outcome)
            self.tracker.poke(job.local_id)
        await self._notify(job)
        return job

    def list(self, owner: str, status: str | None = None, limit: int = 20) -> tuple[list[Job], float]:
        spent = self.ledger.spend(owner, self._clock() - SPEND_WINDOW)
        return self.ledger.list(owner, status, limit), spent

"""The tracker: one loop that follows every live job at fal, quickly when someone waits, lazily otherwise."""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import aclosing, contextmanager
from typing import Any

import anyio

from pika_mcp.errors import AnswerRefused, FalError, FalRejected
from pika_mcp.following import (
    ATTENTION_SECONDS,
    BACKGROUND_FIRST,
    BACKGROUND_MAX,
    BACKOFF_FACTOR,
    ERROR_DELAY,
    MAX_CONCURRENT_REQUESTS,
    MAX_STREAMS,
    NO_STREAM_STATUSES,
    STREAM_CHECK_SECONDS,
    WATCHED_INTERVAL,
    Followed,
    RemoteWatch,
)
from pika_mcp.job import FAILED, NOT_FOUND, PROVIDER_ERROR, RUNNING, SAVING_NOTE, SUCCEEDED, Job, JobStatus, job_error
from pika_mcp.queue import FalQueue, Status
from pika_mcp.settlement import live_status, settle_result
from pika_mcp.store import JobStore

log = logging.getLogger(__name__)

Listener = Callable[[Job], Awaitable[None]]


class Tracker:
    """Polls fal for every unfinished job; writes each change to the ledger, then tells the listeners."""

    def __init__(
        self,
        ledger: JobStore,
        queue: FalQueue,
        *,
        on_change: Listener,
        on_video: Callable[[Job], None] | None = None,
        max_concurrent: int = MAX_CONCURRENT_REQUESTS,
        clock: Callable[[], float] = time.monotonic,
        remote: RemoteWatch | None = None,
    ) -> None:
        self._ledger = ledger
        self._remote = remote
        self._queue = queue
        self._on_change = on_change
        self._on_video = on_video
        self._limit = anyio.CapacityLimiter(max_concurrent)
        self._stream_limit = anyio.CapacityLimiter(MAX_STREAMS)
        self.streams_ok = True
        self._clock = clock
        self._entries: dict[str, Followed] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._wake = anyio.Event()
        self.requests = 0  # status requests sent, for benchmarks and tests
        self.streams = 0  # status streams opened

    def track(self, job: Job, *, delay: float | None = None) -> None:
        if job.finished or not job.submitted or job.local_id in self._entries:
            return
        entry = Followed(job=job)
        self._entries[job.local_id] = entry
        self._schedule(entry, BACKGROUND_FIRST if delay is None else delay)

    def forget(self, local_id: str | None = None) -> None:
        """Stop tracking a job another path has settled (a cancel answered OK); with no id, every job (a peer whose
        lease lapsed: other peers take its jobs over)."""
        for gone in [local_id] if local_id is not None else list(self._entries):
            self._entries.pop(gone, None)

    def poke(self, local_id: str) -> None:
        """Poll this job now."""
        if (entry := self._entries.get(local_id)) is not None and not entry.busy:
            self._schedule(entry, 0.0)

    @contextmanager
    def watching(self, local_id: str) -> Iterator[None]:
        """While inside, the job is polled quickly (someone waits on it or is subscribed)."""
        here = self.watch(local_id, soon=True)
        try:
            yield
        finally:
            self.unwatch(local_id, here)

    def attention(self, local_id: str) -> None:
        """Someone just looked at this job: poll it quickly for a while."""
        entry = self._entries.get(local_id)
        if entry is not None:
            entry.attention_until = self._clock() + ATTENTION_SECONDS
            if not entry.busy and entry.due - self._clock() > WATCHED_INTERVAL:
                self._schedule(entry, WATCHED_INTERVAL)
        elif self._remote is not None:
            self._remote.glance(local_id)

    def _streamable(self, entry: Followed) -> bool:
        quiet = entry.poll_next or entry.no_stream or not self.streams_ok or not self._stream_limit.available_tokens
        return self._quick(entry) and not quiet

    def _quick(self, entry: Followed) -> bool:
        return entry.watchers > 0 or entry.attention_until > self._clock()

    def watch(self, local_id: str, *, soon: bool = False) -> bool:
        """A lasting watch (a subscription; undo with unwatch). True if this process tracks the job, else another
        peer is told (several peers). `soon`: leave a job that is due within WATCHED_INTERVAL as it is."""
        entry = self._entries.get(local_id)
        if entry is None:
            if self._remote is not None:
                self._remote.hold(local_id)
            return False
        entry.watchers += 1
        if not soon or entry.due - self._clock() > WATCHED_INTERVAL:
            self._schedule(entry, 0.0)
        return True

    def unwatch(self, local_id: str, here: bool | None = None) -> None:
        """Undo a watch; `here` is what watch answered (None: whichever this process has)."""
        entry = self._entries.get(local_id)
        if here is not False and entry is not None:
            entry.watchers = max(0, entry.watchers - 1)
        elif not here and self._remote is not None:
            self._remote.release(local_id)

    def _schedule(self, entry: Followed, delay: float) -> None:
        self._seq += 1
        entry.seq = self._seq
        entry.due = self._clock() + delay
        earliest = self._heap[0][0] if self._heap else float("inf")
        heapq.heappush(self._heap, (entry.due, entry.seq, entry.job.local_id))
        if entry.due < earliest:  # otherwise the loop already wakes in time (and a submit need not wait for it)
            self._wake.set()

    async def run(self) -> None:
        """Forever: sleep until the next job is due (or a new one arrives), then poll the due ones."""
        async with anyio.create_task_group() as tg:
            while True:
                now = self._clock()
                while self._heap and self._heap[0][0] <= now:
                    _, seq, local_id = heapq.heappop(self._heap)
                    entry = self._entries.get(local_id)
                    if entry is None or entry.seq != seq or entry.busy:
                        continue
                    entry.busy = True
                    if self._streamable(entry):
                        tg.start_soon(self._stream, entry)
                    else:
                        tg.start_soon(self._poll, entry)
                timeout = self._heap[0][0] - now if self._heap else None
                self._wake = anyio.Event()
                with anyio.move_on_after(timeout):
                    await self._wake.wait()

    async def _poll(self, entry: Followed) -> None:
        job = entry.job
        entry.poll_next = False
        try:
            async with self._limit:
                self.requests += 1
                status = await self._queue.status(job.status_url or "", logs=False)
                if status.state == "COMPLETED":
                    await self._complete(entry, status)
                else:
                    await self._progress(entry, status)
        except AnswerRefused as exc:  # an answer over the caps: waiting will not make it readable
            await self._finish(entry, FAILED, error=job_error(PROVIDER_ERROR, str(exc)))
        except FalRejected as exc:
            if exc.status_code == 404:
                await self._finish(entry, FAILED, error=job_error(NOT_FOUND, "fal no longer knows this request.", exc.detail))
            else:
                log.warning("status of %s refused: %s", job.job_id, exc)
                self._retry_later(entry)
        except (FalError, OSError) as exc:
            log.warning("status of %s failed: %s", job.job_id, exc)
            self._retry_later(entry)
        except Exception:  # a bug must not stop the tracking of every other job
            log.exception("tracking %s crashed; retrying later", job.job_id)
            self._retry_later(entry)
        finally:
            entry.busy = False

    async def _stream(self, entry: Followed) -> None:
        """Follow fal's status stream while someone watches; fall back to polling when it ends or fails.

        The stream is closed within STREAM_CHECK_SECONDS of its last watcher leaving, even if only pings arrive.
        """
        job = entry.job
        events = 0
        unwatched = False
        try:
            async with self._stream_limit:
                self.streams += 1
                entry.streaming = True
                writing = False  # a status being recorded is never cut in half by the watchers leaving
                failure: Exception | None = None
                async with anyio.create_task_group() as tg:

                    async def close_when_unwatched() -> None:
                        nonlocal unwatched
                        while self._quick(entry) or writing:
                            await anyio.sleep(STREAM_CHECK_SECONDS)
                        unwatched = True
                        tg.cancel_scope.cancel()

                    tg.start_soon(close_when_unwatched)
                    try:
                        async with aclosing(self._queue.stream(job.status_url or "")) as statuses:
                            async for status in statuses:
                                events += 1
                                writing = True
                                if status.state == "COMPLETED":
                                    await self._complete(entry, status)
                                    return
                                await self._apply(entry, status)
                                writing = False
                                if not self._quick(entry):
                                    break
                    except Exception as exc:  # raised below as it is, not wrapped in the task group's ExceptionGroup
                        failure = exc
                    finally:
                        tg.cancel_scope.cancel()
                if failure is not None:
                    raise failure
            self._schedule(entry, WATCHED_INTERVAL if self._quick(entry) else entry.interval)
        except FalRejected as exc:
            if exc.status_code in NO_STREAM_STATUSES:
                log.info("fal answered %s to a status stream; polling instead", exc.status_code)
                self.streams_ok = False
            self._schedule(entry, 0.0)
        except (FalError, OSError, ValueError) as exc:
            log.info("status stream of %s ended: %s; polling instead", job.job_id, exc)
            self._schedule(entry, WATCHED_INTERVAL if self._quick(entry) else entry.interval)  # a poll, which retries itself
        except Exception:
            log.exception("following %s crashed; retrying later", job.job_id)
            self._retry_later(entry)
        finally:
            entry.streaming = False
            entry.busy = False
            # A stream that ended says nothing of what came after: poll next. One that gave no status
            # at all (an answer that is not fal's event stream) is not tried again for this job.
            entry.poll_next = True
            entry.no_stream = entry.no_stream or (events == 0 and not unwatched)

    def _retry_later(self, entry: Followed) -> None:
        if entry.job.local_id in self._entries:
            self._schedule(entry, WATCHED_INTERVAL * 4 if self._quick(entry) else ERROR_DELAY)

    async def _apply(self, entry: Followed, status: Status) -> bool:
        """Record a queued/running status if it changed; True if it did."""
        new_status, position = live_status(status)
        job = entry.job
        if (new_status, position) == (job.status, job.queue_position):
            return False
        entry.job = self._ledger.update(job, status=new_status, queue_position=position)
        await self._on_change(entry.job)
        return True

    async def _progress(self, entry: Followed, status: Status) -> None:
        if await self._apply(entry, status):
            entry.interval = BACKGROUND_FIRST
        else:
            entry.interval = min(BACKGROUND_MAX, entry.interval * BACKOFF_FACTOR)
        self._schedule(entry, WATCHED_INTERVAL if self._quick(entry) else entry.interval)

    async def _complete(self, entry: Followed, status: Status) -> None:
        settled = await settle_result(self._queue, entry.job.response_url or "")
        if settled.video is None:
            assert settled.status is not None
            await self._finish(entry, settled.status, **settled.changes)
            return
        if self._on_video is None:  # nothing saves videos here: fal's answer is the end
            await self._finish(entry, SUCCEEDED, video=settled.video)
        # Finished means saved: the job stays `running` with fal's answer recorded (so a process that dies now
        # leaves the save to the next one) until the saver settles it `succeeded`.
        elif (job := await self._finish(entry, RUNNING, note=SAVING_NOTE, video=settled.video)) is not None:
            self._on_video(job)

    async def _finish(self, entry: Followed, status: JobStatus, **changes: Any) -> Job | None:
        self._entries.pop(entry.job.local_id, None)
        job = self._ledger.settle(entry.job, status, queue_position=None, **changes)
        if job is None:  # a cancel or another process settled it first
            await self._on_change(self._ledger.reload(entry.job))
            return None
        await self._on_change(job)
        return job

    def tracks(self, local_id: str) -> bool:
        return local_id in self._entries

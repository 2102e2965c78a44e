"""The store interface: what the job service, the tracker, pruning and the server need of a ledger.

`Ledger` (SQLite, one machine) implements it; a second store (PostgreSQL) implements the same methods and passes
the same contract tests (tests/test_store_contract.py). Spend and dedupe follow `pika_mcp.money`."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, Protocol

from pika_mcp.job import Job, JobStatus

Alive = Callable[[str | None], bool]  # whether the process with this tracker id still runs (None: nobody tracks it)
HistoryEntry = tuple[str, float, str | None]  # a job's history entry: status, when (epoch seconds), note


class UploadCache(Protocol):
    """Uploaded files by content, per storage origin: the same bytes are uploaded once."""

    def upload(self, sha256: str, backend: str) -> dict[str, Any] | None:
        """`{"url", "content_type", "file_size", "sha256"}` of an earlier upload of these bytes to `backend`, or None."""
        ...

    def add_upload(self, sha256: str, backend: str, url: str, content_type: str, file_size: int) -> None: ...


class JobStore(Protocol):
    """Jobs, their history, claims between processes, listing and spend. Every write is atomic."""

    @property
    def schema_version(self) -> int: ...

    def close(self) -> None: ...

    def checkpoint(self) -> None:
        """Housekeeping run now and then from the background (SQLite folds its write-ahead log)."""
        ...

    def rekey_owners(self, moves: dict[str, str], others: Callable[[str], str | None]) -> int:
        """Owner ids replaced in one transaction: `moves` first, then each other owner `others` gives a new id; the rows moved."""
        ...

    # -- writes

    def add(self, job: Job, note: str = "intent recorded") -> None:
        """The intent row, written before the submit is sent."""
        ...

    def update(self, job: Job, note: str | None = None, **changes: Any) -> Job:
        """Apply changes to one job (and a fresh `updated_at`); a status change or a note is written to its history."""
        ...

    def settle(self, job: Job, status: JobStatus, note: str | None = None, **changes: Any) -> Job | None:
        """Move a live job on (to a final status, or to `running` while its video is saved), unless another path or
        process settled it first: None then, and nothing is written."""
        ...

    def add_unless(self, job: Job, *, dedupe_since: float | None, budget: float | None, spend_since: float) -> Job | None:
        """In one transaction (per owner, across processes): return the newest identical job since `dedupe_since` that
        `money.answers_again`; else refuse with BudgetExceeded by `money.check_budget`; else add the intent row."""
        ...

    def claim_orphans(self, tracker_id: str, alive: Alive) -> builtins.list[Job]:
        """Take over the live jobs of processes that are gone (and those nobody tracks); return them."""
        ...

    def claim_downloads(self, tracker_id: str, alive: Alive, since: float) -> builtins.list[Job]:
        """Take over succeeded jobs since `since` whose video could not be saved and was never pruned; return them."""
        ...

    # -- reads

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """By fal request id or local id; scoped to `owner` unless None (the tracker's view)."""
        ...

    def reload(self, job: Job) -> Job:
        """The job as stored now."""
        ...

    def list(self, owner: str, status: str | None = None, limit: int = 20) -> builtins.list[Job]:
        """An owner's jobs, newest first (ties: the later added first), optionally of one status."""
        ...

    def recent_same(self, owner: str, args_key: str, since: float) -> Job | None:
        """The newest job with the same call since `since` that `money.answers_again`."""
        ...

    def spend(self, owner: str, since: float) -> float:
        """The estimates of an owner's jobs created since `since` that `money.spends`, rounded to 4 places."""
        ...

    def prunable(self, before: float) -> builtins.list[Job]:
        """Every owner's succeeded jobs with a local copy or poster whose final status was recorded before `before`."""
        ...

    def history(self, job: Job) -> builtins.list[HistoryEntry]:
        """The job's status changes and notes, oldest first."""
        ...


class Store(JobStore, UploadCache, Protocol):
    """Everything a running server keeps: jobs and the upload cache."""

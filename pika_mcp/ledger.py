"""The job ledger: the SQLite store (one WAL file with a versioned schema) of every job, its status changes and uploads."""

from __future__ import annotations

import builtins
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from pika_mcp.job import SUCCEEDED, Job, JobStatus
from pika_mcp.ledger_schema import from_row, migrate, to_row
from pika_mcp.money import check_budget
from pika_mcp.owners import private_file
from pika_mcp.sqlreads import SQLITE, JobReads
from pika_mcp.store import Alive, HistoryEntry

BUSY_TIMEOUT_MS = 10_000  # several processes share one home; writers wait rather than fail


SPEND_SQL, SAME_CALL_SQL, IS_LIVE = SQLITE.spend_sql, SQLITE.same_call_sql, SQLITE.is_live


class Ledger(JobReads):
    """The SQLite store (pika_mcp.store.Store): all reads and writes of the jobs file; safe to share between threads
    and between processes."""

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode survives a killed process; only a power loss may drop the last commits.
        self._db.execute("PRAGMA synchronous = NORMAL")
        # Checkpoints run from the service's background loop (checkpoint()), not inside a tool call.
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._db.execute("PRAGMA foreign_keys = ON")
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):  # prompts and storage URLs: the user's alone
            if (path.parent / name).exists():
                private_file(path.parent / name)
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def checkpoint(self) -> None:
        """Fold the write-ahead log back into the file without blocking other processes' readers."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._tx() as db:
            migrate(db, self.path)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def rekey_owners(self, moves: dict[str, str], others: Callable[[str], str | None]) -> int:
        """Owner ids replaced in one transaction: `moves` first, then each other owner that `others` gives a new id."""
        with self._tx() as db:
            count = sum(
                db.execute("UPDATE jobs SET owner = ? WHERE owner = ?", (new, old)).rowcount for old, new in moves.items()
            )
            for (owner,) in db.execute("SELECT DISTINCT owner FROM jobs").fetchall():
                if (new := others(owner)) is not None:
                    count += db.execute("UPDATE jobs SET owner = ? WHERE owner = ?", (new, owner)).rowcount
        return count

    # -- writes ---------------------------------------------------------------------------------

    def add(self, job: Job, note: str = "intent recorded") -> None:
        """The intent row, written before the submit is sent."""
        row = to_row(job)
        with self._tx() as db:
            db.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
            db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (job.local_id, job.status, job.created_at, note))

    def update(self, job: Job, note: str | None = None, **changes: Any) -> Job:
        """Apply changes to one job; a status change is also written to its history."""
        now = time.time()
        new = replace(job, **changes, updated_at=now)
        row = to_row(new, (*changes, "updated_at"))
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in row)} WHERE local_id = ?", (*row.values(), job.local_id))
            if "status" in changes and changes["status"] != job.status or note:
                db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (job.local_id, new.status, now, note))
        return new

    def settle(self, job: Job, status: JobStatus, note: str | None = None, **changes: Any) -> Job | None:
        """Move a live job on (to a final status, or to `running` while its video is saved), unless another path or
        process settled it first; None then."""
        now = time.time()
        new = replace(job, status=status, updated_at=now, **changes)
        row = to_row(new, (*changes, "status", "updated_at"))
        with self._tx() as db:
            cursor = db.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in row)} WHERE local_id = ? AND {IS_LIVE}",
                (*row.values(), job.local_id),
            )
            if cursor.rowcount == 0:
                return None
            db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (job.local_id, status, now, note))
        return new

    def add_unless(self, job: Job, *, dedupe_since: float | None, budget: float | None, spend_since: float) -> Job | None:
        """In one transaction: return an identical recent job if any, refuse past the budget, else add the intent row."""
        with self._tx() as db:
            if dedupe_since is not None:
                cursor = db.execute(SAME_CALL_SQL, (job.owner, job.args_key, dedupe_since))
                names = [d[0] for d in cursor.description]
                if (found := cursor.fetchone()) is not None:
                    return from_row(dict(zip(names, found, strict=True)))
            if budget is not None:
                spent = db.execute(SPEND_SQL, (job.owner, spend_since)).fetchone()[0]
                check_budget(spent, job.estimated_cost_usd, budget)
            row = to_row(job)
            db.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
            db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (job.local_id, job.status, job.created_at, "intent recorded"))
        return None

    def claim_orphans(self, tracker_id: str, alive: Alive) -> builtins.list[Job]:
        """Take over the unfinished jobs of processes that are gone (and jobs nobody tracks); return them."""
        with self._lock:
            trackers = {r[0] for r in self._db.execute(f"SELECT DISTINCT tracker FROM jobs WHERE {IS_LIVE}")}
        dead = [t for t in trackers if t != tracker_id and not alive(t)]
        claimed: list[str] = []
        with self._tx() as db:
            for gone in dead:
                where = "tracker IS NULL" if gone is None else "tracker = ?"
                params = () if gone is None else (gone,)
                ids = [r[0] for r in db.execute(f"SELECT local_id FROM jobs WHERE {IS_LIVE} AND {where}", params)]
                db.execute(f"UPDATE jobs SET tracker = ? WHERE {IS_LIVE} AND {where}", (tracker_id, *params))
                claimed.extend(ids)
        return [job for local_id in claimed if (job := self.get(local_id)) is not None]

    def claim_downloads(self, tracker_id: str, alive: Alive, since: float) -> builtins.list[Job]:
        """Succeeded jobs whose video could not be saved (`save_error`), never pruned ones: take them over to retry."""
        query = (
            f"SELECT local_id, tracker FROM jobs WHERE status = '{SUCCEEDED}' AND created_at >= ? AND video IS NOT NULL "
            "AND json_extract(video, '$.local_path') IS NULL AND json_extract(video, '$.pruned_at') IS NULL"
        )
        with self._lock:
            rows = self._db.execute(query, (since,)).fetchall()
        claimed = []
        for local_id, holder in rows:
            if not alive(holder):
                with self._tx() as db:
                    db.execute("UPDATE jobs SET tracker = ? WHERE local_id = ?", (tracker_id, local_id))
                claimed.append(local_id)
        return [job for local_id in claimed if (job := self.get(local_id)) is not None]

    # -- reads ----------------------------------------------------------------------------------

    def spend(self, owner: str, since: float) -> float:
        with self._lock:
            row = self._db.execute(SPEND_SQL, (owner, since)).fetchone()
        return round(float(row[0]), 4)

    def history(self, job: Job) -> builtins.list[HistoryEntry]:
        with self._lock:
            rows = self._db.execute("SELECT status, at, note FROM events WHERE local_id = ? ORDER BY at, rowid", (job.local_id,))
            return [(str(status), float(at), note) for status, at, note in rows.fetchall()]

    def _select(self, query: str, params: builtins.list[Any]) -> builtins.list[Job]:
        with self._lock:
            cursor = self._db.execute(query, params)
            names = [d[0] for d in cursor.description]
            return [from_row(dict(zip(names, values, strict=True))) for values in cursor.fetchall()]

    # -- uploads ---------------------------------------------------------------------------------

    def upload(self, sha256: str, backend: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT url, content_type, file_size FROM uploads WHERE sha256 = ? AND backend = ?", (sha256, backend)
            ).fetchone()
        return None if row is None else {"url": row[0], "content_type": row[1], "file_size": row[2], "sha256": sha256}

    def add_upload(self, sha256: str, backend: str, url: str, content_type: str, file_size: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?)",
                (sha256, backend, url, content_type, file_size, time.time()),
            )

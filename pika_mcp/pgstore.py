"""The job ledger in PostgreSQL: the same store as the SQLite `Ledger`, shared by several peers (the `postgres` extra).

Every method keeps the SQLite ledger's meaning; what a fleet adds to the ledger lives here too: posters kept in the
database (each peer caches them in its home), the owner key as a one-row table, and a NOTIFY on every change
(`CHANGES`, payload `peer|local_id`) in the same transaction as the change, so it is heard only once committed.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from pika_mcp.errors import ConfigError
from pika_mcp.job import SUCCEEDED, Job, JobStatus
from pika_mcp.ledger_schema import COLUMNS as _COLUMNS
from pika_mcp.money import check_budget
from pika_mcp.owners import KEY_BYTES
from pika_mcp.pgposters import PgPosters
from pika_mcp.pgschema import (
    CHANGES,
    CONNECT_SECONDS,
    POOL_SIZE,
    migrate,
    shown,
    to_row,
)
from pika_mcp.sqlreads import POSTGRESQL, JobReads

log = logging.getLogger(__name__)
SPEND_SQL, SAME_CALL_SQL, LIVE_SQL = POSTGRESQL.spend_sql, POSTGRESQL.same_call_sql, POSTGRESQL.is_live


class PgLedger(JobReads):
    """All reads and writes of the jobs in one PostgreSQL database; safe to share between threads, processes and
    machines. `poster_dir` is this peer's cache of posters kept in the database; `peer` names the writer in NOTIFYs."""

    dialect = POSTGRESQL

    def __init__(self, url: str, poster_dir: Path | None = None, *, peer: str = "", pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.peer = peer
        self._posters = PgPosters(poster_dir, self.transaction)
        try:  # one plain connection first: its error says why (the pool's would only say it timed out)
            psycopg.connect(url, connect_timeout=int(CONNECT_SECONDS)).close()
        except psycopg.Error as exc:
            raise ConfigError(f"Cannot connect to PIKA_MCP_DATABASE_URL ({shown(url)}): {str(exc).strip()}") from None
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, kwargs={"row_factory": dict_row}, name="pika-mcp"
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_SECONDS)
        except Exception as exc:
            self._pool.close()
            raise ConfigError(f"Cannot connect to PIKA_MCP_DATABASE_URL ({shown(url)}): {exc}") from None
        self._migrate()

    def close(self) -> None:
        self._pool.close()

    def ping(self) -> None:
        """Raises unless the database answers (readiness in /healthz)."""
        with self._pool.connection(timeout=CONNECT_SECONDS) as conn:
            conn.execute("SELECT 1")

    def checkpoint(self) -> None:
        """Nothing to fold back: PostgreSQL checkpoints on its own."""

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def _migrate(self) -> None:
        with self.transaction() as db:
            migrate(db, self.url)

    @property
    def schema_version(self) -> int:
        with self.transaction() as db:
            row = db.execute("SELECT version FROM pika_schema").fetchone()
        return 0 if row is None else int(row["version"])

    def owner_key(self) -> bytes:
        """The fleet's owner key (DESIGN.md, Secrets: a one-row table in PostgreSQL), made by the first peer."""
        import secrets

        with self.transaction() as db:
            db.execute("INSERT INTO owner_key (key) VALUES (%s) ON CONFLICT DO NOTHING", (secrets.token_bytes(KEY_BYTES),))
            row = db.execute("SELECT key FROM owner_key").fetchone()
        assert row is not None  # inserted just above if it was missing
        return bytes(row["key"])

    def rekey_owners(self, moves: dict[str, str], others: Callable[[str], str | None]) -> int:
        with self.transaction() as db:
            count = sum(
                db.execute("UPDATE jobs SET owner = %s WHERE owner = %s", (new, old)).rowcount for old, new in moves.items()
            )
            for row in db.execute("SELECT DISTINCT owner FROM jobs").fetchall():
                if (new := others(row["owner"])) is not None:
                    count += db.execute("UPDATE jobs SET owner = %s WHERE owner = %s", (new, row["owner"])).rowcount
        return count

    # -- writes ---------------------------------------------------------------------------------

    def _changed(self, db: psycopg.Connection[Any], local_id: str) -> None:
        db.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"{self.peer}|{local_id}"))

    def _insert(self, db: psycopg.Connection[Any], job: Job, note: str) -> None:
        row = to_row(job)
        db.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})", tuple(row.values()))
        db.execute(
            "INSERT INTO events (local_id, status, at, note) VALUES (%s, %s, %s, %s)",
            (job.local_id, job.status, job.created_at, note),
        )
        self._changed(db, job.local_id)

    def add(self, job: Job, note: str = "intent recorded") -> None:
        """The intent row, written before the submit is sent."""
        with self.transaction() as db:
            self._insert(db, job, note)

    def update(self, job: Job, note: str | None = None, **changes: Any) -> Job:
        now = time.time()
        new = replace(job, **changes, updated_at=now)
        row = to_row(new, (*changes, "updated_at"))
        with self.transaction() as db:
            db.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = %s' for k in row)} WHERE local_id = %s", (*row.values(), job.local_id)
            )
            if "status" in changes and changes["status"] != job.status or note:
                db.execute(
                    "INSERT INTO events (local_id, status, at, note) VALUES (%s, %s, %s, %s)",
                    (job.local_id, new.status, now, note),
                )
            self._posters.keep(db, new, changes)
            self._changed(db, job.local_id)
        return new

    def settle(self, job: Job, status: JobStatus, note: str | None = None, **changes: Any) -> Job | None:
        """Move a live job on unless another path or peer settled it first (None then); the guard is the row's own
        status, read under its row lock."""
        now = time.time()
        new = replace(job, status=status, updated_at=now, **changes)
        row = to_row(new, (*changes, "status", "updated_at"))
        with self.transaction() as db:
            cursor = db.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = %s' for k in row)} WHERE local_id = %s AND {LIVE_SQL}",
                (*row.values(), job.local_id),
            )
            if cursor.rowcount == 0:
                return None
            db.execute(
                "INSERT INTO events (local_id, status, at, note) VALUES (%s, %s, %s, %s)", (job.local_id, status, now, note)
            )
            self._posters.keep(db, new, changes)
            self._changed(db, job.local_id)
        return new

    def add_unless(self, job: Job, *, dedupe_since: float | None, budget: float | None, spend_since: float) -> Job | None:
        """In one transaction under the person's advisory lock (so peers take turns): an identical recent job if
        any, a refusal past the budget, else the intent row."""
        with self.transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (job.owner,))
            if dedupe_since is not None:
                if (found := db.execute(SAME_CALL_SQL, (job.owner, job.args_key, dedupe_since)).fetchone()) is not None:
                    return self._from_row(found)
            if budget is not None:
                spent_row = db.execute(SPEND_SQL, (job.owner, spend_since)).fetchone()
                assert spent_row is not None  # an aggregate always answers one row
                check_budget(float(spent_row["spent"]), job.estimated_cost_usd, budget)
            self._insert(db, job, "intent recorded")
        return None

    def claim_orphans(self, me: str, alive: Any) -> list[Job]:
        """Take over the live jobs of peers that are gone (and jobs nobody tracks). The row locks make each job
        go to exactly one claimant: a second peer's UPDATE re-reads the tracker and finds it taken."""
        with self.transaction() as db:
            trackers = {r["tracker"] for r in db.execute(f"SELECT DISTINCT tracker FROM jobs WHERE {LIVE_SQL}")}
        dead = [t for t in trackers if t != me and not alive(t)]
        if not dead:
            return []
        named = [t for t in dead if t is not None]
        with self.transaction() as db:
            rows = db.execute(
                f"UPDATE jobs SET tracker = %s WHERE {LIVE_SQL} AND (tracker = ANY(%s) OR (%s AND tracker IS NULL)) RETURNING *",
                (me, named, None in dead),
            ).fetchall()
        return [self._from_row(r) for r in rows]

    def claim_downloads(self, me: str, alive: Any, since: float) -> list[Job]:
        """Succeeded jobs whose video could not be saved (`save_error`), never pruned ones: take them over to retry."""
        query = (
            f"SELECT local_id, tracker FROM jobs WHERE status = '{SUCCEEDED}' AND created_at >= %s AND video IS NOT NULL "
            "AND video->>'local_path' IS NULL AND video->>'pruned_at' IS NULL"
        )
        with self.transaction() as db:
            rows = db.execute(query, (since,)).fetchall()
        claimed = []
        for row in rows:
            if not alive(row["tracker"]):
                with self.transaction() as db:
                    if db.execute(
                        "UPDATE jobs SET tracker = %s WHERE local_id = %s AND tracker IS NOT DISTINCT FROM %s",
                        (me, row["local_id"], row["tracker"]),
                    ).rowcount:
                        claimed.append(row["local_id"])
        return [job for local_id in claimed if (job := self.get(local_id)) is not None]

    # -- reads ----------------------------------------------------------------------------------

    def spend(self, owner: str, since: float) -> float:
        with self.transaction() as db:
            row = db.execute(SPEND_SQL, (owner, since)).fetchone()
        assert row is not None  # an aggregate always answers one row
        return round(float(row["spent"]), 4)

    def history(self, job: Job) -> builtins.list[tuple[str, float, str | None]]:
        with self.transaction() as db:
            rows = db.execute(
                "SELECT status, at, note FROM events WHERE local_id = %s ORDER BY at, seq", (job.local_id,)
            ).fetchall()
        return [(r["status"], r["at"], r["note"]) for r in rows]

    def get_many(self, local_ids: builtins.list[str]) -> builtins.list[Job]:
        """These jobs (by local id), in one query, in the order asked."""
        found = {job.local_id: job for job in self._select("SELECT * FROM jobs WHERE local_id = ANY(%s)", [local_ids])}
        return [found[local_id] for local_id in local_ids if local_id in found]

    def changed_since(self, since: float) -> builtins.list[Job]:
        """Jobs written at or after `since`: what a peer re-reads after its LISTEN connection came back."""
        return self._select("SELECT * FROM jobs WHERE updated_at >= %s ORDER BY updated_at", [since])

    def _select(self, query: str, params: builtins.list[Any]) -> builtins.list[Job]:
        with self.transaction() as db:
            rows = db.execute(query, params).fetchall()
        return [self._from_row(r) for r in rows]

    def _from_row(self, row: dict[str, Any]) -> Job:
        return self._posters.cached(Job(**{k: row[k] for k in _COLUMNS}))

    # -- uploads ---------------------------------------------------------------------------------

    def upload(self, sha256: str, backend: str) -> dict[str, Any] | None:
        with self.transaction() as db:
            row = db.execute(
                "SELECT url, content_type, file_size FROM uploads WHERE sha256 = %s AND backend = %s", (sha256, backend)
            ).fetchone()
        return None if row is None else {**row, "sha256": sha256}

    def add_upload(self, sha256: str, backend: str, url: str, content_type: str, file_size: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO uploads VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (sha256, backend) DO UPDATE SET "
                "url = EXCLUDED.url, content_type = EXCLUDED.content_type, file_size = EXCLUDED.file_size, "
                "created_at = EXCLUDED.created_at",
                (sha256, backend, url, content_type, file_size, time.time()),
            )

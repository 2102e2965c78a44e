"""The job ledger in PostgreSQL: the same store as the SQLite `Ledger`, shared by several peers (the `postgres` extra).

Every method keeps the SQLite ledger's meaning; what a fleet adds lives here too: the peers' leases, the
watched-jobs rows, posters kept in the database, the owner key as a one-row table, and a NOTIFY on every change
(`CHANGES`, payload `peer|local_id`) in the same transaction as the change, so it is heard only once committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from pika_mcp.errors import BudgetExceeded, ConfigError
from pika_mcp.ledger import _COLUMNS, Job
from pika_mcp.owners import KEY_BYTES, private_file, private_folder

log = logging.getLogger(__name__)

CHANGES = "pika_jobs"  # NOTIFY channel: a job changed (payload: writing peer | local_id)
WATCHES = "pika_watch"  # NOTIFY channel: someone waits on or reads a job (payload: local_id)
MIGRATE_LOCK = 0x70696B61  # advisory lock id held while migrating: two peers starting at once migrate once
POOL_SIZE = 8  # connections per peer: tool calls, the tracker and the adopt loop share them
CONNECT_SECONDS = 10.0  # a database that does not answer at start is a start failure, said plainly
WATCH_SECONDS = 15.0  # a watched-job row lasts this long unless renewed (the watcher renews every few seconds)

# The money rules of ledger.SPENDS and ledger.DEDUPES, in PostgreSQL's JSON syntax; the contract tests run the
# same cases against both stores.
SPENDS = "(status NOT IN ('failed', 'cancelled') OR error->>'type' = 'submit_outcome_unknown')"
DEDUPES = "status NOT IN ('failed', 'cancelled')"
SPEND_SQL = f"SELECT COALESCE(SUM(estimated_cost_usd), 0) AS spent FROM jobs WHERE owner = %s AND created_at >= %s AND {SPENDS}"
SAME_CALL_SQL = (
    f"SELECT * FROM jobs WHERE owner = %s AND args_key = %s AND created_at >= %s AND {DEDUPES} ORDER BY created_at DESC LIMIT 1"
)
LIVE_SQL = "status IN ('queued', 'running')"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        seq BIGSERIAL UNIQUE,
        local_id TEXT PRIMARY KEY,
        request_id TEXT UNIQUE,
        owner TEXT NOT NULL,
        tool TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        backend TEXT NOT NULL,
        status TEXT NOT NULL,
        queue_position INTEGER,
        status_url TEXT,
        response_url TEXT,
        cancel_url TEXT,
        estimated_cost_usd DOUBLE PRECISION NOT NULL,
        arguments JSONB NOT NULL,
        args_key TEXT NOT NULL,
        video JSONB,
        error JSONB,
        cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        tracker TEXT,
        cancel_outcome TEXT
    );
    CREATE INDEX jobs_owner_created ON jobs (owner, created_at DESC);
    CREATE INDEX jobs_live ON jobs (tracker) WHERE status IN ('queued', 'running');
    CREATE INDEX jobs_dedupe ON jobs (owner, args_key, created_at DESC);
    CREATE INDEX jobs_updated ON jobs (updated_at);
    CREATE TABLE events (
        seq BIGSERIAL PRIMARY KEY,
        local_id TEXT NOT NULL REFERENCES jobs (local_id),
        status TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        note TEXT
    );
    CREATE INDEX events_job ON events (local_id, at);
    CREATE TABLE uploads (
        sha256 TEXT NOT NULL,
        backend TEXT NOT NULL,
        url TEXT NOT NULL,
        content_type TEXT NOT NULL,
        file_size BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (sha256, backend)
    );
    CREATE TABLE posters (
        local_id TEXT PRIMARY KEY REFERENCES jobs (local_id),
        jpeg BYTEA NOT NULL
    );
    CREATE TABLE peers (
        peer_id TEXT PRIMARY KEY,
        lease_until TIMESTAMPTZ NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE watches (
        local_id TEXT PRIMARY KEY,
        until TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE owner_key (
        one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
        key BYTEA NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_JSON_COLUMNS = ("arguments", "video", "error")


def is_database_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def shown(url: str) -> str:
    """The URL without its password, for logs and `doctor`."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"postgresql://{info.get('user') or ''}@{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


class PgLedger:
    """All reads and writes of the jobs in one PostgreSQL database; safe to share between threads, processes and
    machines. `poster_dir` is this peer's cache of posters kept in the database; `peer` names the writer in NOTIFYs."""

    def __init__(self, url: str, poster_dir: Path | None = None, *, peer: str = "", pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.peer = peer
        self._poster_dir = poster_dir
        self._no_poster: set[str] = set()
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
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS pika_schema (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM pika_schema").fetchone()
            version = 0 if row is None else int(row["version"])
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"The database {shown(self.url)} has pika-mcp schema version {version}, newer than this pika-mcp "
                    f"understands ({SCHEMA_VERSION}). Upgrade pika-mcp on every peer."
                )
            for step in MIGRATIONS[version:]:
                db.execute(step)  # type: ignore[arg-type]  # our own constant, several statements
            if row is None:
                db.execute("INSERT INTO pika_schema VALUES (%s)", (SCHEMA_VERSION,))
            else:
                db.execute("UPDATE pika_schema SET version = %s", (SCHEMA_VERSION,))

    @property
    def schema_version(self) -> int:
        with self._tx() as db:
            row = db.execute("SELECT version FROM pika_schema").fetchone()
        return 0 if row is None else int(row["version"])

    def owner_key(self) -> bytes:
        """The fleet's owner key (DESIGN.md, Secrets: a one-row table in PostgreSQL), made by the first peer."""
        import secrets

        with self._tx() as db:
            db.execute("INSERT INTO owner_key (key) VALUES (%s) ON CONFLICT DO NOTHING", (secrets.token_bytes(KEY_BYTES),))
            row = db.execute("SELECT key FROM owner_key").fetchone()
        return bytes(row["key"])

    def rekey_owners(self, moves: dict[str, str], others: Callable[[str], str | None]) -> int:
        with self._tx() as db:
            count = sum(db.execute("UPDATE jobs SET owner = %s WHERE owner = %s", (new, old)).rowcount for old, new in moves.items())
            for row in db.execute("SELECT DISTINCT owner FROM jobs").fetchall():
                if (new := others(row["owner"])) is not None:
                    count += db.execute("UPDATE jobs SET owner = %s WHERE owner = %s", (new, row["owner"])).rowcount
        return count

    # -- writes ---------------------------------------------------------------------------------

    def _changed(self, db: psycopg.Connection[Any], local_id: str) -> None:
        db.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"{self.peer}|{local_id}"))

    def _insert(self, db: psycopg.Connection[Any], job: Job, note: str) -> None:
        row = _to_row(job)
        db.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})", tuple(row.values()))  # type: ignore[arg-type]
        db.execute("INSERT INTO events (local_id, status, at, note) VALUES (%s, %s, %s, %s)", (job.local_id, job.status, job.created_at, note))
        self._changed(db, job.local_id)

    def add(self, job: Job, note: str = "intent recorded") -> None:
        """The intent row, written before the submit is sent."""
        with self._tx() as db:
            self._insert(db, job, note)

    def update(self, job: Job, note: str | None = None, **changes: Any) -> Job:
        now = time.time()
        new = replace(job, **changes, updated_at=now)
        row = _to_row(new, (*changes, "updated_at"))
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {', '.join(f'{k} = %s' for k in row)} WHERE local_id = %s", (*row.values(), job.local_id))  # type: ignore[arg-type]
            if "status" in changes and changes["status"] != job.status or note:
                db.execute("INSERT INTO events (local_id, status, at, note) VALUES (%s, %s, %s, %s)", (job.local_id, new.status, now, note))
            self._keep_poster(db, new, changes)
            self._changed(db, job.local_id)
        return new

    def settle(self, job: Job, status: str, note: str | None = None, **changes: Any) -> Job | None:
        """Move a live job on unless another path or peer settled it first (None then); the guard is the row's own
        status, read under its row lock."""
        now = time.time()
        new = replace(job, status=status, updated_at=now, **changes)  # type: ignore[arg-type]
        row = _to_row(new, (*changes, "status", "updated_at"))
        with self._tx() as db:
            cursor = db.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = %s' for k in row)} WHERE local_id = %s AND {LIVE_SQL}",  # type: ignore[arg-type]
                (*row.values(), job.local_id),
            )
            if cursor.rowcount == 0:
                return None
            db.execute("INSERT INTO events (local_id, status, at, note) VALUES (%s, %s, %s, %s)", (job.local_id, status, now, note))
            self._keep_poster(db, new, changes)
            self._changed(db, job.local_id)
        return new

    def add_unless(self, job: Job, *, dedupe_since: float | None, budget: float | None, spend_since: float) -> Job | None:
        """In one transaction under the person's advisory lock (so peers take turns): an identical recent job if
        any, a refusal past the budget, else the intent row."""
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (job.owner,))
            if dedupe_since is not None:
                if (found := db.execute(SAME_CALL_SQL, (job.owner, job.args_key, dedupe_since)).fetchone()) is not None:
                    return self._from_row(found)
            if budget is not None:
                spent = float(db.execute(SPEND_SQL, (job.owner, spend_since)).fetchone()["spent"])
                if spent + job.estimated_cost_usd > budget + 1e-9:
                    raise BudgetExceeded(spent=round(spent, 4), cap=budget, estimate=job.estimated_cost_usd)
            self._insert(db, job, "intent recorded")
        return None

    def claim_orphans(self, me: str, alive: Any) -> list[Job]:
        """Take over the live jobs of peers that are gone (and jobs nobody tracks). The row locks make each job
        go to exactly one claimant: a second peer's UPDATE re-reads the tracker and finds it taken."""
        with self._tx() as db:
            trackers = {r["tracker"] for r in db.execute(f"SELECT DISTINCT tracker FROM jobs WHERE {LIVE_SQL}")}
        dead = [t for t in trackers if t != me and not alive(t)]
        if not dead:
            return []
        named = [t for t in dead if t is not None]
        with self._tx() as db:
            rows = db.execute(
                f"UPDATE jobs SET tracker = %s WHERE {LIVE_SQL} AND (tracker = ANY(%s) OR (%s AND tracker IS NULL)) RETURNING *",
                (me, named, None in dead),
            ).fetchall()
        return [self._from_row(r) for r in rows]

    def claim_downloads(self, me: str, alive: Any, since: float) -> list[Job]:
        """Succeeded jobs whose video could not be saved (`save_error`), never pruned ones: take them over to retry."""
        query = (
            "SELECT local_id, tracker FROM jobs WHERE status = 'succeeded' AND created_at >= %s AND video IS NOT NULL "
            "AND video->>'local_path' IS NULL AND video->>'pruned_at' IS NULL"
        )
        with self._tx() as db:
            rows = db.execute(query, (since,)).fetchall()
        claimed = []
        for row in rows:
            if not alive(row["tracker"]):
                with self._tx() as db:
                    if db.execute(
                        "UPDATE jobs SET tracker = %s WHERE local_id = %s AND tracker IS NOT DISTINCT FROM %s",
                        (me, row["local_id"], row["tracker"]),
                    ).rowcount:
                        claimed.append(row["local_id"])
        return [job for local_id in claimed if (job := self.get(local_id)) is not None]

    # -- reads ----------------------------------------------------------------------------------

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        query = "SELECT * FROM jobs WHERE (local_id = %s OR request_id = %s)"
        params: list[Any] = [job_id, job_id]
        if owner is not None:
            query += " AND owner = %s"
            params.append(owner)
        return next(iter(self._select(query, params)), None)

    def reload(self, job: Job) -> Job:
        fresh = self.get(job.local_id)
        assert fresh is not None
        return fresh

    def list(self, owner: str, status: str | None = None, limit: int = 20) -> list[Job]:
        query, params = "SELECT * FROM jobs WHERE owner = %s", [owner]
        if status:
            query += " AND status = %s"
            params.append(status)
        return self._select(query + " ORDER BY created_at DESC, seq DESC LIMIT %s", [*params, limit])

    def recent_same(self, owner: str, args_key: str, since: float) -> Job | None:
        rows = self._select(SAME_CALL_SQL, [owner, args_key, since])
        return rows[0] if rows else None

    def spend(self, owner: str, since: float) -> float:
        with self._tx() as db:
            row = db.execute(SPEND_SQL, (owner, since)).fetchone()
        return round(float(row["spent"]), 4)

    def prunable(self, before: float) -> list[Job]:
        """Every person's succeeded jobs with a local copy or poster, whose final status was recorded before `before`."""
        return self._select(
            "SELECT * FROM jobs WHERE status = 'succeeded' AND video IS NOT NULL "
            "AND (video->>'local_path' IS NOT NULL OR video->>'poster_path' IS NOT NULL) "
            "AND (SELECT MIN(at) FROM events WHERE events.local_id = jobs.local_id AND events.status = 'succeeded') < %s "
            "ORDER BY created_at",
            [before],
        )

    def history(self, job: Job) -> list[tuple[str, float, str | None]]:
        with self._tx() as db:
            rows = db.execute("SELECT status, at, note FROM events WHERE local_id = %s ORDER BY at, seq", (job.local_id,)).fetchall()
        return [(r["status"], r["at"], r["note"]) for r in rows]

    def changed_since(self, since: float) -> list[Job]:
        """Jobs written at or after `since`: what a peer re-reads after its LISTEN connection came back."""
        return self._select("SELECT * FROM jobs WHERE updated_at >= %s ORDER BY updated_at", [since])

    def _select(self, query: str, params: list[Any]) -> list[Job]:
        with self._tx() as db:
            rows = db.execute(query, params).fetchall()  # type: ignore[call-overload]
        return [self._from_row(r) for r in rows]

    # -- posters: in the database, cached in each peer's home ----------------------------------

    def _keep_poster(self, db: psycopg.Connection[Any], job: Job, changes: dict[str, Any]) -> None:
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

    def _poster(self, job: Job) -> Job:
        """A job whose poster_path names this peer's copy of the poster kept in the database (fetched once)."""
        video = job.video
        if self._poster_dir is None or video is None or not video.get("poster_path"):
            return job
        local = self._poster_dir / f"{job.local_id}.jpg"
        if not local.is_file() and job.local_id not in self._no_poster:
            with self._tx() as db:
                row = db.execute("SELECT jpeg FROM posters WHERE local_id = %s", (job.local_id,)).fetchone()
            if row is None:
                self._no_poster.add(job.local_id)
            else:
                private_folder(self._poster_dir)
                partial = local.with_suffix(f".{time.monotonic_ns()}.part")
                partial.write_bytes(bytes(row["jpeg"]))
                private_file(partial)
                partial.replace(local)
        if local.is_file():
            return replace(job, video={**video, "poster_path": str(local)})
        return job

    def _from_row(self, row: dict[str, Any]) -> Job:
        return self._poster(Job(**{k: row[k] for k in _COLUMNS}))

    # -- uploads ---------------------------------------------------------------------------------

    def upload(self, sha256: str, backend: str) -> dict[str, Any] | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT url, content_type, file_size FROM uploads WHERE sha256 = %s AND backend = %s", (sha256, backend)
            ).fetchone()
        return None if row is None else {**row, "sha256": sha256}

    def add_upload(self, sha256: str, backend: str, url: str, content_type: str, file_size: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO uploads VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (sha256, backend) DO UPDATE SET "
                "url = EXCLUDED.url, content_type = EXCLUDED.content_type, file_size = EXCLUDED.file_size, "
                "created_at = EXCLUDED.created_at",
                (sha256, backend, url, content_type, file_size, time.time()),
            )

    # -- the fleet: leases and watches ----------------------------------------------------------

    def renew_peer(self, peer: str, seconds: float) -> None:
        """This peer's lease on the jobs it tracks, from now for `seconds` by the database's clock."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO peers (peer_id, lease_until) VALUES (%s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (peer_id) DO UPDATE SET lease_until = EXCLUDED.lease_until",
                (peer, seconds),
            )

    def drop_peer(self, peer: str) -> None:
        """A peer leaving: its lease ends now, so the others take its jobs over at their next look."""
        with self._tx() as db:
            db.execute("DELETE FROM peers WHERE peer_id = %s", (peer,))
            db.execute("DELETE FROM peers WHERE lease_until < now() - interval '1 day'")

    def peer_alive(self, peer: str) -> bool:
        with self._tx() as db:
            return db.execute("SELECT 1 FROM peers WHERE peer_id = %s AND lease_until > now()", (peer,)).fetchone() is not None

    def watch(self, local_ids: list[str]) -> None:
        """Someone on this peer waits on, reads or subscribes to these jobs: a row with an expiry, and a word to the
        peer that tracks each."""
        with self._tx() as db:
            for local_id in local_ids:
                db.execute(
                    "INSERT INTO watches VALUES (%s, now() + make_interval(secs => %s)) "
                    "ON CONFLICT (local_id) DO UPDATE SET until = EXCLUDED.until",
                    (local_id, WATCH_SECONDS),
                )
                db.execute("SELECT pg_notify(%s, %s)", (WATCHES, local_id))
            db.execute("DELETE FROM watches WHERE until < now()")

    def watched(self, local_ids: list[str]) -> list[str]:
        with self._tx() as db:
            rows = db.execute("SELECT local_id FROM watches WHERE local_id = ANY(%s) AND until > now()", (local_ids,)).fetchall()
        return [r["local_id"] for r in rows]


def _to_row(job: Job, names: tuple[str, ...] = _COLUMNS) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        value = getattr(job, name)
        if name in _JSON_COLUMNS and value is not None:
            value = Jsonb(value)
        row[name] = value
    return row

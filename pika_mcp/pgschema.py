"""The PostgreSQL ledger's schema: its versioned migrations (run once, under an advisory lock, however many peers
start together), the money rules in its SQL, the notification channels, and how a job becomes a row."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pika_mcp.errors import ConfigError
from pika_mcp.job import Job
from pika_mcp.ledger_schema import COLUMNS as _COLUMNS

CHANGES = "pika_jobs"  # NOTIFY channel: a job changed (payload: writing peer | local_id)
WATCHES = "pika_watch"  # NOTIFY channel: someone waits on or reads a job (payload: local_id)
MIGRATE_LOCK = 0x70696B61  # advisory lock id held while migrating: two peers starting at once migrate once
POOL_SIZE = 8  # connections per peer: tool calls, the tracker and the adopt loop share them
CONNECT_SECONDS = 10.0  # a database that does not answer at start is a start failure, said plainly
WATCH_SECONDS = 15.0  # a watched-job row lasts this long unless renewed (the watcher renews every few seconds)

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


def shown(url: str) -> str:
    """The URL without its password, for logs and `doctor`."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"postgresql://{info.get('user') or ''}@{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def migrate(db: psycopg.Connection[Any], url: str) -> None:
    """Bring the schema to SCHEMA_VERSION inside the caller's transaction; the advisory lock makes a second peer wait
    and then find the work done."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
    db.execute("CREATE TABLE IF NOT EXISTS pika_schema (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM pika_schema").fetchone()
    version = 0 if row is None else int(row["version"])
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"The database {shown(url)} has pika-mcp schema version {version}, newer than this pika-mcp "
            f"understands ({SCHEMA_VERSION}). Upgrade pika-mcp on every peer."
        )
    for step in MIGRATIONS[version:]:
        db.execute(step)
    if row is None:
        db.execute("INSERT INTO pika_schema VALUES (%s)", (SCHEMA_VERSION,))
    else:
        db.execute("UPDATE pika_schema SET version = %s", (SCHEMA_VERSION,))


def to_row(job: Job, names: tuple[str, ...] = _COLUMNS) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        value = getattr(job, name)
        if name in _JSON_COLUMNS and value is not None:
            value = Jsonb(value)
        row[name] = value
    return row

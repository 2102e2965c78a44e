"""The SQLite ledger's schema: its versioned migrations, and how a Job maps to a row and back."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import Any

from pika_mcp.job import Job

# Each entry moves the schema one version up; the index + 1 is the version it produces. A migration is history:
# never edited once released (its status literals included), only followed by a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
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
        estimated_cost_usd REAL NOT NULL,
        arguments TEXT NOT NULL,
        args_key TEXT NOT NULL,
        video TEXT,
        error TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX jobs_owner_created ON jobs (owner, created_at DESC);
    CREATE INDEX jobs_live ON jobs (status) WHERE status IN ('queued', 'running');
    CREATE INDEX jobs_dedupe ON jobs (owner, args_key, created_at DESC);
    CREATE TABLE events (
        local_id TEXT NOT NULL REFERENCES jobs (local_id),
        status TEXT NOT NULL,
        at REAL NOT NULL,
        note TEXT
    );
    CREATE INDEX events_job ON events (local_id, at);
    CREATE TABLE uploads (
        sha256 TEXT NOT NULL,
        backend TEXT NOT NULL,
        url TEXT NOT NULL,
        content_type TEXT NOT NULL,
        file_size INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (sha256, backend)
    );
    """,
    # v2: which process tracks each job, so that processes sharing a home split the work.
    """
    ALTER TABLE jobs ADD COLUMN tracker TEXT;
    """,
    # v3: fal's answer to the last cancel, shown in the job view.
    """
    ALTER TABLE jobs ADD COLUMN cancel_outcome TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
JSON_COLUMNS = ("arguments", "video", "error")
COLUMNS = tuple(f.name for f in fields(Job))


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to SCHEMA_VERSION inside the caller's transaction; refuse a ledger from a newer pika-mcp."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"The ledger {path} has schema version {version}, newer than this pika-mcp "
            f"understands ({SCHEMA_VERSION}). Upgrade pika-mcp."
        )
    for step in MIGRATIONS[version:]:
        for statement in filter(str.strip, step.split(";")):
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def to_row(job: Job, names: tuple[str, ...] = COLUMNS) -> dict[str, Any]:
    """The job's columns as SQLite stores them (all of them, or only the named ones)."""
    row: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        value = getattr(job, name)
        if name in JSON_COLUMNS:
            value = None if value is None else json.dumps(value, separators=(",", ":"))
        elif name == "cancel_requested":
            value = int(value)
        row[name] = value
    return row


def from_row(row: dict[str, Any]) -> Job:
    """A Job from a row read as {column: value}."""
    for name in JSON_COLUMNS:
        if row[name] is not None:
            row[name] = json.loads(row[name])
    row["cancel_requested"] = bool(row["cancel_requested"])
    return Job(**{k: row[k] for k in COLUMNS})

"""The sandbox's durable state: jobs, stored files, storage tokens and uploads in one SQLite file."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pika_mcp.sandbox.config import fail_spec_from_json
from pika_mcp.sandbox.job import CancelKind, Job

DATABASE_NAME = "sandbox.sqlite3"  # in the state folder
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT UNIQUE NOT NULL,
  endpoint_id TEXT NOT NULL, app TEXT NOT NULL, body TEXT NOT NULL,
  gateway_request_id TEXT NOT NULL, submitted_at REAL NOT NULL,
  queue_seconds REAL NOT NULL, run_seconds REAL NOT NULL, failure TEXT,
  cancel_kind TEXT, cancelled_at REAL, cancel_done_at REAL,
  video_path TEXT, video_size INTEGER, render_error TEXT);
CREATE TABLE IF NOT EXISTS files (
  path TEXT PRIMARY KEY, content_type TEXT NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
  upload_id TEXT PRIMARY KEY, path TEXT NOT NULL, content_type TEXT NOT NULL);
"""
STARTS = "submitted_at + queue_seconds"
QUEUED = f"app = ? AND seq < ? AND cancel_kind IS NULL AND {STARTS} > ?"
RENDERABLE = "cancel_kind IS NULL AND failure IS NULL AND video_path IS NULL AND render_error IS NULL"


class Store:
    """SQLite in WAL mode, shared by the event loop and render threads under one lock."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _all(self, sql: str, *args: object) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _run(self, sql: str, *args: object) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def _one(self, sql: str, *args: object) -> Any:
        rows = self._all(sql, *args)
        return rows[0][0] if rows else None

    def _time(self, sql: str, *args: object) -> float | None:
        value = self._one(sql, *args)
        return float(value) if value is not None else None

    # Jobs

    def add_job(self, job: Job) -> Job:
        row = asdict(job)
        row.pop("seq")
        row["body"] = json.dumps(job.body)
        row["failure"] = json.dumps(row["failure"]) if job.failure is not None else None
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        self._run(f"INSERT INTO jobs ({names}) VALUES ({marks})", *row.values())
        stored = self.job(job.request_id)
        assert stored is not None
        return stored

    def job(self, request_id: str) -> Job | None:
        rows = self._all("SELECT * FROM jobs WHERE request_id = ?", request_id)
        return _job(rows[0]) if rows else None

    def request_ids(self) -> list[str]:
        return [row[0] for row in self._all("SELECT request_id FROM jobs ORDER BY seq")]

    def queue_position(self, job: Job, now: float) -> int:
        """How many earlier jobs of the same app are still queued."""
        return int(self._one(f"SELECT COUNT(*) FROM jobs WHERE {QUEUED}", job.app, job.seq, now))

    def next_queue_change(self, job: Job, now: float) -> float | None:
        """When the next earlier job of the same app leaves the queue (the position drops)."""
        return self._time(f"SELECT MIN({STARTS}) FROM jobs WHERE {QUEUED}", job.app, job.seq, now)

    def due_renders(self, now: float) -> list[Job]:
        rows = self._all(f"SELECT * FROM jobs WHERE {RENDERABLE} AND {STARTS} <= ?", now)
        return [_job(row) for row in rows]

    def next_start(self, now: float) -> float | None:
        return self._time(f"SELECT MIN({STARTS}) FROM jobs WHERE {RENDERABLE} AND {STARTS} > ?", now)

    def jobs_submitted_before(self, cutoff: float) -> list[Job]:
        return [_job(row) for row in self._all("SELECT * FROM jobs WHERE submitted_at < ? ORDER BY seq", cutoff)]

    def drop_job(self, request_id: str) -> None:
        self._run("DELETE FROM jobs WHERE request_id = ?", request_id)

    def cancel(self, request_id: str, kind: CancelKind, at: float, done_at: float) -> None:
        sql = "UPDATE jobs SET cancel_kind = ?, cancelled_at = ?, cancel_done_at = ?"
        self._run(f"{sql} WHERE request_id = ?", kind, at, done_at, request_id)

    def finish_render(self, request_id: str, path: str | None, size: int | None, err: str | None) -> None:
        sql = "UPDATE jobs SET video_path = ?, video_size = ?, render_error = ? WHERE request_id = ?"
        self._run(sql, path, size, err, request_id)

    # Files, tokens and uploads

    def add_file(self, path: str, content_type: str, size: int) -> None:
        self._run("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", path, content_type, size)

    def drop_file(self, path: str) -> None:
        self._run("DELETE FROM files WHERE path = ?", path)

    def file_type(self, path: str) -> str | None:
        found = self._one("SELECT content_type FROM files WHERE path = ?", path)
        return str(found) if found is not None else None

    def add_token(self, token: str, expires_at: float) -> None:
        self._run("INSERT INTO tokens VALUES (?, ?)", token, expires_at)

    def drop_expired_tokens(self, now: float) -> None:
        self._run("DELETE FROM tokens WHERE expires_at <= ?", now)

    def token_valid(self, token: str, now: float) -> bool:
        return bool(self._one("SELECT 1 FROM tokens WHERE token = ? AND expires_at > ?", token, now))

    def add_upload(self, upload_id: str, path: str, content_type: str) -> None:
        self._run("INSERT INTO uploads VALUES (?, ?, ?)", upload_id, path, content_type)

    def upload(self, upload_id: str) -> tuple[str, str] | None:
        rows = self._all("SELECT path, content_type FROM uploads WHERE upload_id = ?", upload_id)
        return (rows[0][0], rows[0][1]) if rows else None

    def drop_upload(self, upload_id: str) -> None:
        self._run("DELETE FROM uploads WHERE upload_id = ?", upload_id)


def _job(row: sqlite3.Row) -> Job:
    data = dict(row)
    data["body"] = json.loads(data["body"])
    failure = data["failure"]
    data["failure"] = fail_spec_from_json(json.loads(failure)) if failure is not None else None
    return Job(**data)

"""The PostgreSQL the fleet benchmark runs on: PIKA_MCP_TEST_DATABASE_URL's cluster, else a throwaway one started by
scripts/pg-cluster; a fresh database per use; and the statements a database was sent, counted from the server's log."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench.fal import ROOT, bench_env, stop

ENV = "PIKA_MCP_TEST_DATABASE_URL"
CLUSTER = ROOT / "scripts" / "pg-cluster"
START_TIMEOUT = 120.0
MARK = "pika-bench-mark"


class Unavailable(Exception):
    """No PostgreSQL to run on; the message says why and what to do."""


def _installed() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")) or shutil.which("pg_ctl") is not None


@asynccontextmanager
async def cluster() -> AsyncIterator[str]:
    """The base URL of a PostgreSQL cluster (its `postgres` database): the one PIKA_MCP_TEST_DATABASE_URL names, else
    a throwaway cluster from scripts/pg-cluster, stopped on exit. Raises Unavailable where there is none."""
    try:
        import psycopg  # noqa: F401  (the postgres extra)
    except ImportError:
        raise Unavailable("needs the postgres extra (pip install -e '.[postgres]')") from None
    if url := os.environ.get(ENV, "").strip():
        yield url
        return
    if not _installed() or shutil.which("bash") is None:
        raise Unavailable(f"needs PostgreSQL: set {ENV}, or install PostgreSQL so scripts/pg-cluster can start one")
    # pg-cluster runs the command with the URL exported and stops the cluster when it ends: here, when stdin closes.
    process = await asyncio.create_subprocess_exec(
        "bash", str(CLUSTER), "sh", "-c", f'echo "${ENV}"; exec cat >/dev/null',
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=bench_env(),
    )  # fmt: skip
    assert process.stdout is not None and process.stdin is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)).decode().strip()
        if not line.startswith("postgresql://"):
            raise Unavailable("scripts/pg-cluster could not start a cluster")
        yield line
    finally:
        process.stdin.close()
        await stop(process, 30.0)


def _connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def with_database(url: str, name: str) -> str:
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(url)
    host, port, user = info.get("host", "127.0.0.1"), info.get("port", 5432), info.get("user", "postgres")
    password = f":{info['password']}" if info.get("password") else ""
    return f"postgresql://{user}{password}@{host}:{port}/{name}"  # a URL, as PIKA_MCP_DATABASE_URL takes


@asynccontextmanager
async def database(base: str, label: str, **settings: str) -> AsyncIterator[str]:
    """A new, empty database in the cluster (with per-database `settings`), dropped on exit; yields its URL."""
    name = f"pika_bench_{label}_{uuid.uuid4().hex[:8]}"
    with _connect(base) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        for key, value in settings.items():
            conn.execute(f"ALTER DATABASE \"{name}\" SET {key} = '{value}'")
    try:
        yield with_database(base, name)
    finally:
        with _connect(base) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_log(url: str) -> Path | None:
    """The cluster's log file where we can read it: the logging collector's, or pg-cluster's (`log` beside `data`)."""
    try:
        with _connect(url) as conn:
            current = conn.execute("SELECT pg_current_logfile()").fetchone()[0]
            data = Path(conn.execute("SHOW data_directory").fetchone()[0])
    except Exception:
        return None
    candidates: list[Path] = ([data / str(current)] if current else []) + [data.parent / "log"]
    for path in candidates:
        if os.access(path, os.R_OK):
            return path
    return None


class Statements:
    """Statements sent to one database (its sessions log every statement: `log_statement = all`), between marks."""

    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, log

    def mark(self) -> str:
        token = f"{MARK}-{uuid.uuid4().hex[:8]}"
        with _connect(self.url) as conn:
            conn.execute(f"SELECT '{token}'")
        return token

    def between(self, first: str, last: str) -> list[str]:
        """The statements logged after mark `first` and before mark `last`, one per round trip (psycopg sends one
        statement at a time outside pipeline mode; a prepared one is logged as `execute _pg3_N`)."""
        counting, found = False, list[str]()
        for line in self.log.read_text(errors="replace").splitlines():
            if first in line:
                counting = True
            elif last in line:
                return found
            elif counting and ("LOG:  statement: " in line or "LOG:  execute " in line):
                found.append(line.split("LOG:  ", 1)[1].split(": ", 1)[-1])
        raise RuntimeError(f"mark {last} not found in {self.log}")

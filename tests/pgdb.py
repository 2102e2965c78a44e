"""A real PostgreSQL for the tests: PIKA_MCP_TEST_DATABASE_URL names a cluster (scripts/pg-cluster starts one);
each pytest-xdist worker makes its own database in it, and each test a schema of its own (`fresh_url`).

Without the variable these tests skip, saying why; under CI=true they fail instead (CI must run them)."""

from __future__ import annotations

import functools
import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

ENV = "PIKA_MCP_TEST_DATABASE_URL"
_schemas = itertools.count()


def _missing() -> None:
    reason = f"needs PostgreSQL: set {ENV} (scripts/pg-cluster starts a throwaway cluster)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; under CI=true a missing database is a failure")
    pytest.skip(reason)


@functools.cache
def _worker_database() -> str:
    """This worker's own database, made afresh once per test process."""
    base = os.environ.get(ENV, "").strip()
    if not base:
        _missing()
    try:
        import psycopg
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the postgres extra is not installed (pip install -e '.[postgres]')")
        pytest.skip("needs the postgres extra (psycopg)")
    name = f"pika_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(base)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


def database_url() -> str:
    """This worker's database (skips or fails the test where there is none)."""
    return _worker_database()


def fresh_url() -> str:
    """A URL whose tables live in a new, empty schema of this worker's database: a ledger nobody else writes."""
    url = _worker_database()  # skips (or fails under CI) before anything needs the driver
    import psycopg

    schema = f"t{next(_schemas)}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    info = psycopg.conninfo.conninfo_to_dict(url)
    # A URL (not a key=value string), as PIKA_MCP_DATABASE_URL takes.
    return (
        f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/"
        f"{info['dbname']}?options={quote(f'-csearch_path={schema}')}"
    )


def pg_store(folder: Path, url: str | None = None) -> object:
    """A PostgreSQL store on a fresh schema, its poster cache in `folder` (the contract suites' factory)."""
    url = url or fresh_url()
    from pika_mcp.pgstore import PgLedger

    return PgLedger(url, folder / "posters", pool_size=2)


@contextmanager
def own_database() -> Iterator[tuple[str, object]]:
    """A database of its own (a test may make it refuse connections), and an admin connection to the cluster's
    `postgres` database that can; dropped afterwards."""
    _worker_database()  # skips (or fails under CI) where there is no cluster
    import psycopg

    base = os.environ[ENV].strip()
    name = f"pika_own_{uuid.uuid4().hex[:12]}"
    info = psycopg.conninfo.conninfo_to_dict(base)
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield (
                f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{name}",
                admin,
            )
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

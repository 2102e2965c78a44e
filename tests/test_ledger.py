"""The SQLite ledger file itself: migrations from earlier schema versions (the store contract is in test_store_contract)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from pika_mcp.job import Job
from pika_mcp.ledger import Ledger
from pika_mcp.ledger_schema import MIGRATIONS, SCHEMA_VERSION


def job(local_id: str = "local-1", **changes: object) -> Job:
    now = time.time()
    base = dict(local_id=local_id, owner="local", tool="pika_v22_text_to_video", endpoint_id="fal-ai/pika/v2.2/text-to-video",
                backend="fal", status="queued", estimated_cost_usd=0.2, arguments={"prompt": "x"}, args_key="k",
                created_at=now, updated_at=now)  # fmt: skip
    return Job(**(base | changes))  # type: ignore[arg-type]


def test_a_version_1_ledger_is_migrated_in_place_keeping_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute(
        "INSERT INTO jobs (local_id, request_id, owner, tool, endpoint_id, backend, status, estimated_cost_usd, arguments, "
        "args_key, created_at, updated_at) VALUES ('local-old', 'req-1', 'local', 'pika_v22_text_to_video', "
        "'fal-ai/pika/v2.2/text-to-video', 'fal', 'running', 0.2, '{\"prompt\": \"old\"}', 'k', 1.0, 1.0)"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    ledger = Ledger(path)
    assert ledger.schema_version == SCHEMA_VERSION == 3
    old = ledger.get("req-1")
    assert old is not None and old.arguments == {"prompt": "old"} and old.tracker is None
    assert [j.local_id for j in ledger.claim_orphans("me", alive=lambda token: False)] == ["local-old"]
    assert ledger.get("req-1").tracker == "me"  # type: ignore[union-attr]


def test_a_ledger_from_a_newer_pika_mcp_is_refused_not_damaged(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    Ledger(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        Ledger(path)

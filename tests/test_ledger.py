"""The ledger file: migrations from earlier schema versions, atomic claims, guarded final states."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from pika_mcp.errors import BudgetExceeded
from pika_mcp.ledger import MIGRATIONS, SCHEMA_VERSION, Job, Ledger


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


def test_only_one_final_state_wins(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "jobs.sqlite3")
    ledger.add(job())
    first = ledger.settle(job(), "cancelled")
    second = ledger.settle(job(), "succeeded", video={"url": "u"})
    assert first is not None and second is None
    assert ledger.get("local-1").status == "cancelled"  # type: ignore[union-attr]
    assert [e[0] for e in ledger.history(job())] == ["queued", "cancelled"]


def test_identical_call_inside_the_window_returns_the_first_and_budget_is_checked_atomically(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "jobs.sqlite3")
    now = time.time()
    assert ledger.add_unless(job("local-1"), dedupe_since=now - 600, budget=0.5, spend_since=now - 86400) is None
    again = ledger.add_unless(job("local-2"), dedupe_since=now - 600, budget=0.5, spend_since=now - 86400)
    assert again is not None and again.local_id == "local-1"
    with pytest.raises(BudgetExceeded, match=r"\$0.20 spent"):
        ledger.add_unless(job("local-3", args_key="other", estimated_cost_usd=0.45), dedupe_since=None, budget=0.5, spend_since=now - 86400)
    assert ledger.get("local-3") is None


def test_jobs_of_a_live_process_are_not_claimed(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "jobs.sqlite3")
    ledger.add(job("local-1", tracker="alive-one"))
    ledger.add(job("local-2", tracker="dead-one", args_key="k2"))
    claimed = ledger.claim_orphans("me", alive=lambda token: token == "alive-one")
    assert [j.local_id for j in claimed] == ["local-2"]

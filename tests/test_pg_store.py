"""The PostgreSQL store: the SQLite ledger's meaning (one parametrized fixture runs both), and what only several
peers on one database can show: races between peers, one migration, claims taken once, posters and uploads shared."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pika_mcp.errors import BudgetExceeded
from pika_mcp.job import Job
from tests.pgdb import fresh_url, pg_store

_ids = itertools.count()  # `store`, one fixture over both stores, is conftest's (as the contract suite uses it)


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[list[Any]]:
    """Three peers' stores on one database (each its own pool and poster cache)."""
    url = fresh_url()
    opened = [pg_store(tmp_path / f"peer{n}", url) for n in range(3)]
    try:
        yield opened
    finally:
        for store in opened:
            store.close()


def job(**changes: Any) -> Job:
    now = time.time()
    base: dict[str, Any] = dict(local_id=f"local-{next(_ids)}-{time.monotonic_ns()}", owner="alice", tool="pika_v22_text_to_video",
                                endpoint_id="fal-ai/pika/v2.2/text-to-video", backend="fal", status="queued",
                                estimated_cost_usd=0.2, arguments={"prompt": "x"}, args_key="k", created_at=now, updated_at=now)  # fmt: skip
    return Job(**(base | changes))


def test_a_job_reads_back_as_written_with_its_history_and_only_for_its_owner(store: Any) -> None:
    added = job(request_id=f"req-{next(_ids)}", arguments={"prompt": "a cat", "image_urls": ["https://x/y.png"], "seed": 3})
    store.add(added)
    assert store.get(added.local_id) == added and store.get(added.request_id) == added
    assert store.get(added.local_id, owner="bob") is None
    running = store.update(added, status="running", note="fal started")
    assert store.reload(added) == running
    assert [(s, n) for s, _, n in store.history(added)] == [("queued", "intent recorded"), ("running", "fal started")]


def test_only_the_first_final_state_is_recorded(store: Any) -> None:
    added = job()
    store.add(added)
    assert store.settle(added, "cancelled", note="cancel: OK") is not None
    assert store.settle(added, "succeeded", video={"url": "u"}) is None
    assert store.reload(added).status == "cancelled" and store.reload(added).video is None


def test_spend_counts_live_and_succeeded_jobs_and_lost_submits_but_not_failed_or_cancelled(store: Any) -> None:
    for status, error in [("queued", None), ("running", None), ("succeeded", None), ("failed", {"type": "provider_error"}),
                          ("cancelled", None), ("failed", {"type": "submit_outcome_unknown"})]:  # fmt: skip
        store.add(job(status=status, error=error, estimated_cost_usd=1.0, args_key=f"{status}-{error}"))
    store.add(job(owner="bob", estimated_cost_usd=5.0))
    store.add(job(created_at=time.time() - 90_000, estimated_cost_usd=7.0))
    assert store.spend("alice", time.time() - 86_400) == 4.0


def test_a_failed_job_never_answers_an_identical_call_and_a_live_one_does(store: Any) -> None:
    since = time.time() - 600
    store.add(job(args_key="same", status="failed", error={"type": "provider_error"}))
    assert store.recent_same("alice", "same", since) is None
    live = job(args_key="same")
    assert store.add_unless(live, dedupe_since=since, budget=None, spend_since=since) is None
    found = store.add_unless(job(args_key="same"), dedupe_since=since, budget=None, spend_since=since)
    assert found is not None and found.local_id == live.local_id


def test_listing_is_newest_first_per_owner_and_status(store: Any) -> None:
    made = [job(created_at=1000.0 + n, args_key=str(n)) for n in range(3)]
    for j in made:
        store.add(j)
    store.update(made[0], status="running")
    assert [j.local_id for j in store.list("alice")] == [j.local_id for j in reversed(made)]
    assert [j.local_id for j in store.list("alice", "running")] == [made[0].local_id]
    assert store.list("bob") == []


def test_orphans_of_a_dead_tracker_are_claimed_and_a_live_trackers_are_not(store: Any) -> None:
    dead, alive = job(tracker="dead", request_id=f"r-{next(_ids)}"), job(tracker="alive", args_key="2")
    done = job(tracker="dead", status="succeeded", args_key="3")
    for j in (dead, alive, done):
        store.add(j)
    claimed = store.claim_orphans("me", lambda t: t == "alive")
    assert [j.local_id for j in claimed] == [dead.local_id]
    assert store.reload(dead).tracker == "me" and store.reload(alive).tracker == "alive"


def test_an_unsaved_video_is_claimed_for_another_try_but_a_pruned_one_is_not(store: Any) -> None:
    unsaved = job(status="succeeded", tracker="dead", video={"url": "u", "save_error": "disk full"})
    pruned = job(status="succeeded", tracker="dead", video={"url": "u", "pruned_at": "2026-01-01T00:00:00Z"}, args_key="p")
    store.add(unsaved)
    store.add(pruned)
    claimed = store.claim_downloads("me", lambda t: False, time.time() - 3600)
    assert [j.local_id for j in claimed] == [unsaved.local_id]


def test_prunable_covers_every_person_whose_success_is_older_than_the_cutoff(store: Any) -> None:
    mine, theirs = job(), job(owner="bob")
    for j in (mine, theirs):
        store.add(j)
        store.settle(j, "succeeded", video={"url": "u", "local_path": "/v.mp4"})
    assert store.prunable(time.time() - 3600) == []
    assert sorted(j.local_id for j in store.prunable(time.time() + 1)) == sorted([mine.local_id, theirs.local_id])


def test_uploads_are_remembered_by_content_and_backend(store: Any) -> None:
    store.add_upload("abc", "fal", "https://cdn/x.png", "image/png", 12)
    assert store.upload("abc", "fal") == {
        "url": "https://cdn/x.png",
        "content_type": "image/png",
        "file_size": 12,
        "sha256": "abc",
    }
    assert store.upload("abc", "sandbox") is None


def test_owner_rekeying_moves_rows_in_one_step(store: Any) -> None:
    store.add(job(owner="t-old"))
    assert store.rekey_owners({"t-old": "p-new"}, lambda owner: None) == 1
    assert len(store.list("p-new")) == 1


# -- what only several peers on one database can show ----------------------------------------------


def race(peers: list[Any], work: Callable[[Any], Any]) -> list[Any]:
    """`work` on every peer at once (threads released together); each result or exception."""
    results: list[Any] = [None] * len(peers)
    start = threading.Barrier(len(peers))

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = work(peers[n])
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(peers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_the_same_call_raced_on_three_peers_makes_one_job(peers: list[Any]) -> None:
    since = time.time() - 600
    for round_ in range(5):
        results = race(
            peers, lambda s, r=round_: s.add_unless(job(args_key=f"race-{r}"), dedupe_since=since, budget=None, spend_since=since)
        )
        made = [r for r in results if r is None]
        assert len(made) == 1, results
        assert len({r.local_id for r in results if r is not None}) == 1
    assert len(peers[0].list("alice", limit=100)) == 5


def test_the_budget_raced_on_three_peers_holds(peers: list[Any]) -> None:
    since = time.time() - 86_400
    for round_ in range(5):
        results = race(peers, lambda s: s.add_unless(job(args_key=f"b-{time.monotonic_ns()}", estimated_cost_usd=0.45),
                                                     dedupe_since=None, budget=1.0, spend_since=since))  # fmt: skip
        assert sum(r is None for r in results) == (2 if round_ == 0 else 0)
        assert all(isinstance(r, BudgetExceeded) for r in results if r is not None)
    assert peers[1].spend("alice", since) == 0.9


def test_two_peers_starting_at_once_migrate_once(tmp_path: Path) -> None:
    url = fresh_url()
    stores = race([0, 1, 2], lambda n: pg_store(tmp_path / f"p{n}", url))
    try:
        assert all(not isinstance(s, Exception) for s in stores), stores
        assert {s.schema_version for s in stores} == {1}
    finally:
        for s in stores:
            if not isinstance(s, Exception):
                s.close()


def test_a_dead_peers_jobs_are_claimed_by_exactly_one_of_the_others(peers: list[Any]) -> None:
    orphans = [job(tracker="gone", request_id=f"r-{next(_ids)}-{n}", args_key=str(n)) for n in range(20)]
    for j in orphans:
        peers[0].add(j)
    results = race(peers, lambda s: s.claim_orphans(f"peer-{id(s)}", lambda t: t != "gone"))
    claimed = [j.local_id for r in results for j in r]
    assert sorted(claimed) == sorted(j.local_id for j in orphans)  # each once, none twice
    trackers = {peers[0].reload(j).tracker for j in orphans}
    assert trackers <= {f"peer-{id(s)}" for s in peers} and "gone" not in trackers


def test_a_poster_saved_on_one_peer_is_served_by_another(peers: list[Any], tmp_path: Path) -> None:
    made = job()
    peers[0].add(made)
    poster = tmp_path / "peer0" / "posters" / f"{made.local_id}.jpg"
    poster.parent.mkdir(parents=True)
    poster.write_bytes(b"\xff\xd8 a jpeg")
    peers[0].settle(made, "succeeded", video={"url": "u", "poster_path": str(poster)})
    elsewhere = peers[1].get(made.local_id)
    assert elsewhere is not None and elsewhere.video is not None
    assert Path(elsewhere.video["poster_path"]).parent == tmp_path / "peer1" / "posters"
    assert Path(elsewhere.video["poster_path"]).read_bytes() == b"\xff\xd8 a jpeg"


def test_an_upload_made_through_one_peer_is_known_to_the_others(peers: list[Any]) -> None:
    peers[0].add_upload("sha", "fal", "https://cdn/y.mp4", "video/mp4", 99)
    assert peers[2].upload("sha", "fal") is not None


def test_a_peer_is_alive_while_its_lease_runs_and_dead_once_it_lapses_or_leaves(peers: list[Any]) -> None:
    from pika_mcp.pgpeers import PgPeers

    here, there = PgPeers(peers[0]), PgPeers(peers[1])
    here.renew_peer("p0", 60)
    assert there.peer_alive("p0")
    here.renew_peer("p0", -1)  # a lease that ran out
    assert not there.peer_alive("p0")
    here.renew_peer("p0", 60)
    here.drop_peer("p0")
    assert not there.peer_alive("p0")


def test_the_database_url_password_never_shows_in_a_connection_refusal(tmp_path: Path) -> None:
    pytest.importorskip("psycopg", reason="needs the postgres extra")
    from pika_mcp.errors import ConfigError
    from pika_mcp.pgstore import PgLedger

    with pytest.raises(ConfigError) as refused:
        PgLedger("postgresql://user:s3cret-pass@127.0.0.1:1/db?connect_timeout=2", tmp_path)
    assert "s3cret-pass" not in str(refused.value) and "PIKA_MCP_DATABASE_URL" in str(refused.value)

"""The store contract: what every store (SQLite's Ledger, and any other) does for the service, the tracker and prune.

Each test runs once per store in STORES; a new store adds one factory there and passes these unchanged."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from pika_mcp.errors import BudgetExceeded
from pika_mcp.job import ERROR_TYPES, FINAL, LIVE, STATUSES, SUCCEEDED, Job, job_error
from pika_mcp.money import DEDUPE_WINDOW, SPEND_WINDOW, answers_again, spends
from pika_mcp.store import Store

_ids = itertools.count()


def job(**changes: Any) -> Job:
    now = time.time()
    base: dict[str, Any] = dict(local_id=f"local-{next(_ids)}", owner="alice", tool="pika_v22_text_to_video",
                                endpoint_id="fal-ai/pika/v2.2/text-to-video", backend="fal", status="queued",
                                estimated_cost_usd=0.2, arguments={"prompt": "x"}, args_key="k", created_at=now, updated_at=now)  # fmt: skip
    return Job(**(base | changes))


def test_a_job_added_is_read_back_by_local_id_and_by_request_id_and_only_by_its_owner(store: Store) -> None:
    added = job(request_id="req-1", arguments={"prompt": "a cat", "image_urls": ["https://x/y.png"]}, video=None)
    store.add(added)
    assert store.get(added.local_id) == added
    assert store.get("req-1") == added
    assert store.get("req-1", owner="alice") == added
    assert store.get("req-1", owner="bob") is None
    assert store.get("nothing") is None
    assert store.reload(added) == added


def test_an_update_changes_the_named_fields_and_records_status_changes_and_notes(store: Store) -> None:
    added = job()
    store.add(added)
    running = store.update(added, status="running", queue_position=None, note="fal started")
    assert running.status == "running" and running.updated_at >= added.updated_at
    assert store.reload(added) == running
    store.update(running, cancel_requested=True)  # no status change, no note: no history entry
    store.update(running, note="cancel: CANCELLATION_REQUESTED")
    assert [(status, note) for status, _, note in store.history(added)] == [
        ("queued", "intent recorded"), ("running", "fal started"), ("running", "cancel: CANCELLATION_REQUESTED")]  # fmt: skip
    assert store.reload(added).cancel_requested is True


def test_only_one_final_state_wins(store: Store) -> None:
    added = job()
    store.add(added)
    first = store.settle(added, "cancelled", note="cancel: OK")
    second = store.settle(added, "succeeded", video={"url": "u"})
    assert first is not None and first.status == "cancelled" and second is None
    assert store.reload(added).status == "cancelled" and store.reload(added).video is None
    assert [e[0] for e in store.history(added)] == ["queued", "cancelled"]


def test_a_live_job_may_be_settled_running_while_its_video_is_saved_then_succeeded(store: Store) -> None:
    added = job(request_id="req-save")
    store.add(added)
    saving = store.settle(added, "running", note="fal finished; saving the video", video={"url": "u"})
    assert saving is not None and saving.saving
    done = store.settle(saving, "succeeded", video={"url": "u", "local_path": "/x.mp4"})
    assert done is not None and done.finished and store.reload(added).video == {"url": "u", "local_path": "/x.mp4"}


def test_an_identical_call_is_answered_by_the_first_job_and_the_budget_is_checked_in_the_same_step(store: Store) -> None:
    now = time.time()
    window = dict(dedupe_since=now - DEDUPE_WINDOW, budget=0.5, spend_since=now - SPEND_WINDOW)
    first = job()
    assert store.add_unless(first, **window) is None
    again = store.add_unless(job(), **window)
    assert again is not None and again.local_id == first.local_id
    refused = job(args_key="other", estimated_cost_usd=0.45)
    with pytest.raises(BudgetExceeded, match=r"\$0.20 spent"):
        store.add_unless(refused, dedupe_since=None, budget=0.5, spend_since=now - SPEND_WINDOW)
    assert store.get(refused.local_id) is None
    forced = job()  # force_new: no dedupe
    assert store.add_unless(forced, dedupe_since=None, budget=None, spend_since=now - SPEND_WINDOW) is None
    assert store.get(forced.local_id) is not None


def test_a_failed_or_cancelled_job_never_answers_an_identical_call(store: Store) -> None:
    now = time.time()
    for status in STATUSES:
        earlier = job(args_key=f"call-{status}", status=status)
        store.add(earlier)
        found = store.recent_same("alice", f"call-{status}", now - DEDUPE_WINDOW)
        assert (found is not None) == answers_again(earlier), status
        assert store.recent_same("bob", f"call-{status}", now - DEDUPE_WINDOW) is None
    old = job(args_key="old", created_at=now - DEDUPE_WINDOW - 1)
    store.add(old)
    assert store.recent_same("alice", "old", now - DEDUPE_WINDOW) is None


def test_spend_counts_exactly_the_jobs_the_money_rule_counts(store: Store) -> None:
    now = time.time()
    made = []
    for i, (status, kind) in enumerate(itertools.product(STATUSES, (None, *ERROR_TYPES))):
        error = job_error(kind, "x") if kind is not None else None
        made.append(job(status=status, error=error, estimated_cost_usd=float(2**i) / 1024))
    for each in made:
        store.add(each)
    store.add(job(owner="bob", estimated_cost_usd=100.0))
    store.add(job(estimated_cost_usd=100.0, created_at=now - SPEND_WINDOW - 1))
    expected = sum(j.estimated_cost_usd for j in made if spends(j))
    assert store.spend("alice", now - SPEND_WINDOW) == round(expected, 4)
    assert store.spend("nobody", now - SPEND_WINDOW) == 0


def test_a_listing_is_one_owners_jobs_newest_first_filtered_and_limited(store: Store) -> None:
    now = time.time()
    made = [job(created_at=now + i, status=STATUSES[i % len(STATUSES)]) for i in range(7)]
    for each in made:
        store.add(each)
    store.add(job(owner="bob"))
    assert [j.local_id for j in store.list("alice")] == [j.local_id for j in reversed(made)]
    assert [j.local_id for j in store.list("alice", limit=2)] == [made[6].local_id, made[5].local_id]
    assert [j.local_id for j in store.list("alice", "queued")] == [made[5].local_id, made[0].local_id]


def test_the_live_jobs_of_dead_processes_are_claimed_and_those_of_live_ones_are_not(store: Store) -> None:
    mine, theirs, dead, nobody = job(tracker="me"), job(tracker="alive-one"), job(tracker="dead-one"), job(tracker=None)
    finished = job(tracker="dead-one", status="succeeded")
    for each in (mine, theirs, dead, nobody, finished):
        store.add(each)
    claimed = store.claim_orphans("me", lambda tracker_id: tracker_id in ("me", "alive-one"))
    assert sorted(j.local_id for j in claimed) == sorted([dead.local_id, nobody.local_id])
    assert {store.reload(j).tracker for j in (dead, nobody)} == {"me"}
    assert store.reload(theirs).tracker == "alive-one" and store.reload(finished).tracker == "dead-one"
    assert all(j.status in LIVE for j in claimed)


def test_succeeded_jobs_whose_video_was_not_saved_are_claimed_for_another_try(store: Store) -> None:
    now = time.time()
    unsaved = job(status=SUCCEEDED, tracker="dead-one", video={"url": "u", "save_error": "disk full"})
    saved = job(status=SUCCEEDED, tracker="dead-one", video={"url": "u", "local_path": "/x.mp4"})
    pruned = job(status=SUCCEEDED, tracker="dead-one", video={"url": "u", "pruned_at": "2026-01-01T00:00:00Z"})
    held = job(status=SUCCEEDED, tracker="alive-one", video={"url": "u", "save_error": "disk full"})
    old = job(status=SUCCEEDED, tracker="dead-one", video={"url": "u"}, created_at=now - SPEND_WINDOW - 1)
    for each in (unsaved, saved, pruned, held, old):
        store.add(each)
    claimed = store.claim_downloads("me", lambda tracker_id: tracker_id == "alive-one", now - SPEND_WINDOW)
    assert [j.local_id for j in claimed] == [unsaved.local_id]
    assert store.reload(unsaved).tracker == "me"


def test_prunable_jobs_are_succeeded_ones_with_a_copy_or_poster_finished_before_the_cutoff(store: Store) -> None:
    with_copy, with_poster = job(), job()
    without, live = job(), job()
    for each in (with_copy, with_poster, without, live):
        store.add(each)
    store.settle(with_copy, "succeeded", video={"url": "u", "local_path": "/a.mp4"})
    store.settle(with_poster, "succeeded", video={"url": "u", "poster_path": "/a.jpg"})
    store.settle(without, "succeeded", video={"url": "u"})
    store.update(live, status="running", video={"url": "u", "local_path": "/b.mp4"})
    later = time.time() + 10
    assert sorted(j.local_id for j in store.prunable(later)) == sorted([with_copy.local_id, with_poster.local_id])
    assert store.prunable(time.time() - 10) == []


def test_owner_ids_are_rekeyed_in_one_step(store: Store) -> None:
    a, b, c = job(owner="old-a"), job(owner="t-b"), job(owner="local")
    for each in (a, b, c):
        store.add(each)
    moved = store.rekey_owners({"old-a": "new-a"}, lambda owner: "p-" + owner if owner.startswith("t-") else None)
    assert moved == 2
    assert [store.reload(j).owner for j in (a, b, c)] == ["new-a", "p-t-b", "local"]


def test_the_upload_cache_answers_the_same_content_on_the_same_origin_only(store: Store) -> None:
    assert store.upload("abc", "https://rest.fal.ai") is None
    store.add_upload("abc", "https://rest.fal.ai", "https://cdn/x.png", "image/png", 12)
    assert store.upload("abc", "https://rest.fal.ai") == {
        "url": "https://cdn/x.png",
        "content_type": "image/png",
        "file_size": 12,
        "sha256": "abc",
    }
    assert store.upload("abc", "http://127.0.0.1:1") is None
    store.add_upload("abc", "https://rest.fal.ai", "https://cdn/y.png", "image/png", 12)  # replaced, not duplicated
    assert store.upload("abc", "https://rest.fal.ai")["url"] == "https://cdn/y.png"  # type: ignore[index]


def test_a_store_reports_its_schema_version_and_keeps_house(store: Store) -> None:
    assert isinstance(store.schema_version, int) and store.schema_version >= 1
    store.add(job())
    store.checkpoint()
    assert FINAL.isdisjoint(LIVE) and FINAL | LIVE == set(STATUSES)

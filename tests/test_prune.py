"""`pika-mcp jobs --prune DAYS`: only what pika-mcp saved goes, as the ledger records it; nothing points at a deleted file."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from pika_mcp.terminal import jobs
from tests.conftest import view

pytestmark = pytest.mark.anyio


async def make_two_videos(settings: Settings) -> list[dict[str, Any]]:
    async with Client(build_server(settings).mcp) as client:
        return [
            view(await client.call_tool("pika_v2_turbo_text_to_video", {"prompt": prompt, "wait_seconds": 120}))
            for prompt in ("first", "second")
        ]


async def test_prune_deletes_only_what_pika_mcp_saved_and_marks_it(settings: Settings) -> None:
    first, second = await make_two_videos(settings)
    ours, replaced = Path(first["video"]["local_path"]), Path(second["video"]["local_path"])
    poster = Path(first["video"]["poster_path"])
    own = settings.output_dir / "my_own_video.mp4"  # the user's, back-dated: prune must never touch it
    own.write_bytes(b"\x00" * 5000)
    year_ago = time.time() - 365 * 86_400
    os.utime(own, (year_ago, year_ago))
    replaced.write_bytes(b"the user's edit")  # a recorded file whose size no longer matches: the user's now

    listed = io.StringIO()
    assert jobs(settings, prune_days=0, out=listed, dry_run=True) == 0
    assert str(ours) in listed.getvalue() and "Would delete 1 video(s)" in listed.getvalue()
    assert ours.exists() and poster.exists()

    out = io.StringIO()
    assert jobs(settings, prune_days=0, out=out) == 0
    assert not ours.exists() and not poster.exists()
    assert own.exists() and replaced.exists()
    assert "Deleted 1 video(s)" in out.getvalue() and "kept" in out.getvalue()

    async with Client(build_server(settings).mcp) as client:
        pruned = view(await client.call_tool("pika_get_job", {"job_id": first["job_id"]}))
        kept = view(await client.call_tool("pika_get_job", {"job_id": second["job_id"]}))
        listing = view(await client.call_tool("pika_list_jobs", {}))
    assert pruned["status"] == "succeeded" and pruned["video"]["local_path"] is None and pruned["video"]["pruned_at"]
    assert pruned["video"]["poster_path"] is None and pruned["poster_uri"] is None
    assert kept["video"]["local_path"] == str(replaced)
    for job in listing["jobs"]:  # no view names a file that is gone
        for key in ("local_path", "poster_path"):
            assert job["video"][key] is None or Path(job["video"][key]).is_file()
    assert sorted(p.name for p in settings.output_dir.iterdir()) == sorted([own.name, replaced.name])  # never downloaded again


async def test_prune_also_forgets_the_embedded_sandboxs_old_copies(tmp_path: Path) -> None:
    settings = Settings.from_env({"PIKA_MCP_HOME": str(tmp_path / "home"), "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out")})
    assert settings.embedded_sandbox
    async with Client(build_server(settings).mcp) as client:
        job = view(await client.call_tool("pika_v2_turbo_text_to_video", {"prompt": "kept by the sandbox", "wait_seconds": 60}))
    assert job["status"] == "succeeded"
    stored = [p for p in (settings.home / "sandbox" / "files").rglob("*") if p.is_file()]
    assert stored  # the sandbox keeps its own copy of what it served
    out = io.StringIO()
    assert jobs(settings, prune_days=0, out=out) == 0
    assert "The local sandbox" in out.getvalue()
    assert not [p for p in (settings.home / "sandbox" / "files").rglob("*") if p.is_file()]


async def test_prune_keeps_jobs_finished_more_recently_than_days(settings: Settings) -> None:
    first, _ = await make_two_videos(settings)
    out = io.StringIO()
    assert jobs(settings, prune_days=1, out=out) == 0
    assert Path(first["video"]["local_path"]).exists() and "Deleted 0 video(s)" in out.getvalue()


async def test_a_copy_deleted_by_hand_reads_as_null(settings: Settings) -> None:
    first, _ = await make_two_videos(settings)
    Path(first["video"]["local_path"]).unlink()
    async with Client(build_server(settings).mcp) as client:
        seen = view(await client.call_tool("pika_get_job", {"job_id": first["job_id"]}))
    assert seen["status"] == "succeeded" and seen["video"]["local_path"] is None

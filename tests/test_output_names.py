"""Saved videos are named from safe characters, inside the output folder, never over an existing file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pika_mcp.ledger import Job
from pika_mcp.outputs import file_name, free_path


def job(request_id: str, prompt: str = "a fox") -> Job:
    now = time.time()
    return Job(
        local_id="local-0000", owner="local", tool="pika_v22_text_to_video", endpoint_id="fal-ai/pika/v2.2/text-to-video",
        backend="fal", status="running", estimated_cost_usd=0.2, arguments={"prompt": prompt}, args_key="k",
        created_at=now, updated_at=now, request_id=request_id,
    )  # fmt: skip


@pytest.mark.parametrize("request_id", ["/../../x", "..\\..\\x", "a/b", "x\x00y", "\u202e.mp4", "CON", ".."])
def test_a_hostile_request_id_cannot_leave_the_folder_or_hide_the_file(tmp_path: Path, request_id: str) -> None:
    name = file_name(job(request_id, prompt="../../etc/passwd"))
    assert "/" not in name and "\\" not in name and "\x00" not in name and not name.startswith(".")
    assert name.isascii() and name.endswith(".mp4")
    path = free_path(tmp_path, name)
    assert path.parent == tmp_path


def test_a_save_never_replaces_an_existing_file(tmp_path: Path) -> None:
    name = file_name(job("req-12345678"))
    (tmp_path / name).write_bytes(b"the user's own")
    os.symlink(tmp_path / "elsewhere", tmp_path / name.replace(".mp4", "-2.mp4"))  # a planted symlink counts as taken
    path = free_path(tmp_path, name)
    assert path.name == name.replace(".mp4", "-3.mp4") and not path.exists()
    assert (tmp_path / name).read_bytes() == b"the user's own"


def test_prune_keeps_a_file_another_program_holds_open_and_does_not_mark_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows refuses to delete a file a player holds open (PermissionError): the job keeps its copy for next time."""
    from pika_mcp.ledger import Ledger
    from pika_mcp.prune import prune

    ledger = Ledger(tmp_path / "jobs.sqlite3")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 10)
    done = job("req-1")
    ledger.add(done)
    ledger.settle(done, "succeeded", video={"url": "https://v3.fal.media/v.mp4", "local_path": str(video), "file_size": 10})

    def held_open(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "The process cannot access the file because it is being used by another process", str(self))

    monkeypatch.setattr(Path, "unlink", held_open)
    [result] = prune(ledger, 0, now=time.time() + 1)
    assert result.kept is not None and "being used" in result.kept
    stored = ledger.get("req-1")
    assert stored is not None and stored.video is not None and stored.video["local_path"] == str(video)
    assert stored.video.get("pruned_at") is None
    ledger.close()

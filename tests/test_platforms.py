"""What differs between desktops: Windows refusing to delete a file another program holds open, macOS guarding folders."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

from pika_mcp import liveness
from pika_mcp.errors import FileRefused
from pika_mcp.files import FilePolicy
from pika_mcp.liveness import Liveness


def held_open_elsewhere(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """liveness's os, except that deleting raises PermissionError, as Windows does while another process has the file open."""
    tried: list[str] = []

    def remove(path: str | os.PathLike[str]) -> None:
        tried.append(os.fspath(path))
        raise PermissionError(
            13, "The process cannot access the file because it is being used by another process", os.fspath(path)
        )

    monkeypatch.setattr(liveness, "os", types.SimpleNamespace(getpid=os.getpid, remove=remove))
    return tried


def test_a_liveness_file_held_open_elsewhere_does_not_stop_a_process_from_exiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried = held_open_elsewhere(monkeypatch)
    with Liveness(tmp_path) as mine:
        token = mine.tracker_id
    assert tried == [str(tmp_path / f"{token}.lock")]  # it tried, and the exit went on
    assert not Liveness(tmp_path).alive(token)  # the file stayed, but it holds no lock: that process is dead


def test_a_dead_process_whose_file_cannot_be_deleted_yet_is_still_dead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Liveness(tmp_path) as gone:
        token = gone.tracker_id
    (tmp_path / f"{token}.lock").write_text("a file left behind\n")
    tried = held_open_elsewhere(monkeypatch)
    with Liveness(tmp_path) as me:
        assert me.alive(token) is False
        assert me.alive(token) is False  # asked again: the same answer, the file still there
    assert str(tmp_path / f"{token}.lock") in tried


def test_an_unreadable_file_in_a_macos_protected_folder_names_the_permission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    monkeypatch.setattr(sys, "platform", "darwin")
    policy = FilePolicy((tmp_path,), tmp_path / "videos")
    with pytest.raises(FileRefused) as refused:
        policy.open(str(tmp_path / "Desktop" / "cat.png"))
    said = str(refused.value)
    assert "does not exist or cannot be read" in said
    assert "Files and Folders" in said and "Full Disk Access" in said and "(Desktop)" in said
    with pytest.raises(FileRefused) as elsewhere:
        policy.open(str(tmp_path / "Pictures" / "cat.png"))
    assert "Full Disk Access" not in str(elsewhere.value)  # only the folders macOS guards


def test_other_platforms_say_only_that_the_file_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(FileRefused) as refused:
        FilePolicy((tmp_path,), tmp_path / "videos").open(str(tmp_path / "Documents" / "cat.png"))
    assert str(refused.value) == f"{tmp_path / 'Documents' / 'cat.png'} does not exist or cannot be read."

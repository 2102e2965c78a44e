"""Which pika-mcp processes sharing a home are alive: each holds a lock file named by its tracker id while it runs."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Protocol

from pika_mcp.lockfile import FileLock


class Presence(Protocol):
    """Who this process is among those sharing a store, and whether another one still runs: a lock file per process
    on one machine (Liveness), a lease in the database for peers (fleet.PeerLease)."""

    @property
    def tracker_id(self) -> str:
        """The `tracker` this process writes on the jobs it follows; a peer whose lease lapsed gets a new one."""
        ...

    def alive(self, tracker_id: str | None) -> bool: ...


class Liveness:
    """This process's tracker id (the `tracker` of the jobs it follows), held as a lock in `folder`; an id whose lock
    is free belongs to a dead process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tracker_id = uuid.uuid4().hex
        self._lock = FileLock(folder / f"{self.tracker_id}.lock")

    def __enter__(self) -> Liveness:
        if not self._lock.acquire():  # pragma: no cover - a fresh random name cannot be held
            raise RuntimeError(f"cannot hold {self._lock.path}")
        self._lock.write(f"{os.getpid()}\n")  # for people (and tests) asking which process this is
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        _discard(self._lock.path)

    def alive(self, tracker_id: str | None) -> bool:
        if tracker_id is None:
            return False
        if tracker_id == self.tracker_id:
            return True
        path = self.folder / f"{tracker_id}.lock"
        if not path.exists():
            return False
        probe = FileLock(path)
        if probe.acquire():  # nobody holds it: that process is gone
            probe.release()
            _discard(path)
            return False
        return True


def _discard(path: Path) -> None:
    """Delete a lock file that nobody holds. On Windows another process may have it open (probing it, as `alive`
    does): deleting then raises PermissionError, and the file stays for a later probe to delete; it holds no lock."""
    try:
        os.remove(path)
    except (FileNotFoundError, PermissionError):
        pass

"""Owner ids: HMAC-SHA256 of a person's HTTP token under a key kept with the ledger, and the move from unkeyed ids.

The key (32 random bytes, `owner.key` beside the SQLite file, 0600) is made once; without it an owner id in the
ledger cannot be turned back into a token by trying a dictionary. PIKA_MCP_HOME is private to the user.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pika_mcp.store import JobStore

KEY_FILE = "owner.key"
KEY_BYTES = 32
PREFIX = "p-"  # a keyed id; ids from before keys were "t-" and 24 hex digits of the token's plain SHA-256
OLD_PREFIX, OLD_DIGITS = "t-", 24


def owner_id(key: bytes, token: str) -> str:
    """The one id of the person behind a token, everywhere: ledger rows, sessions, logs."""
    return PREFIX + hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def old_owner_id(token: str) -> str:
    """What earlier versions stored for a token (an unkeyed hash): only to find rows to move."""
    return OLD_PREFIX + hashlib.sha256(token.encode()).hexdigest()[:OLD_DIGITS]


def is_old_owner_id(owner: str) -> bool:
    digits = owner[len(OLD_PREFIX) :]
    return owner.startswith(OLD_PREFIX) and len(digits) == OLD_DIGITS and all(c in "0123456789abcdef" for c in digits)


def owner_key(home: Path) -> bytes:
    """The home's owner key, made on first use; several processes starting at once agree on one."""
    path = home / KEY_FILE
    private_folder(home)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        temporary = home / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # never replaces a key another process made first
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
        key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"{path} is not a pika-mcp owner key ({len(key)} bytes, not {KEY_BYTES}); move it away to make a new one."
        )
    private_file(path)
    return key


def migrate(ledger: JobStore, key: bytes, tokens: tuple[str, ...]) -> int:
    """At a start with tokens: each configured token's rows move from its old id to its keyed id, and every other
    old id becomes HMAC(key, old id), so no unkeyed hash of a token stays in the ledger. Runs at every such start."""
    if not tokens:
        return 0
    moves = {old_owner_id(t): owner_id(key, t) for t in tokens}
    return ledger.rekey_owners(moves, lambda owner: owner_id(key, owner) if is_old_owner_id(owner) else None)


def private_folder(path: Path) -> None:
    """A folder only its user can enter (0700), made if missing; nothing where the platform has no modes."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name != "nt" and stat.S_IMODE(path.stat().st_mode) != 0o700:
        try:
            path.chmod(0o700)
        except OSError:
            pass  # not ours to change (a shared parent named as home): its files are still made private


def private_file(path: Path) -> None:
    """A file only its user can read or write (0600), where the platform has modes."""
    if os.name != "nt" and hasattr(os, "chmod"):
        try:
            if stat.S_IMODE(path.stat().st_mode) != 0o600:
                path.chmod(0o600)
        except OSError:
            pass


def private_home(home: Path) -> None:
    """PIKA_MCP_HOME and everything pika-mcp wrote in it, private to the user: 0700 folders, 0600 files.

    Run at every start, so a home made by an earlier version (under the usual umask) is tightened too.
    """
    private_folder(home)
    if os.name == "nt":
        return
    for folder, folders, files in os.walk(home):
        for name in folders:
            target = Path(folder) / name
            if not target.is_symlink():
                private_folder(target)
        for name in files:
            target = Path(folder) / name
            if not target.is_symlink():
                private_file(target)

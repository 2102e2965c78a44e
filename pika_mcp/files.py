"""Which local files may be uploaded: allowed folders only, symlinks resolved, no hidden paths, images and videos only.

A file is opened once and checked by its open descriptor; everything later read from it (sniffed, hashed,
uploaded) comes from that descriptor, so swapping the path for a symlink or a FIFO after the check changes nothing.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlparse

from pika_mcp.errors import FileRefused
from pika_mcp.models import is_unc
from pika_mcp.sniff import SNIFF_BYTES, sniff

SYSTEM_ROOTS = ("/proc", "/sys", "/dev", "/run")  # never files a person means to share
MAX_UPLOAD_BYTES = 2 * 1024**3  # 2 GiB: far past any Pika input
SHOWN_CHARS = 120  # the most of a caller's path a refusal quotes
# No-follow where the platform has it (a symlink swapped in after the check is refused, not followed); non-blocking
# so that a FIFO opens at once (and is then refused as not a regular file) instead of waiting for a writer.
# macOS asks the user before an app reads these folders; a refused read looks like a missing file.
MACOS_PROTECTED = ("Desktop", "Documents", "Downloads")
OPEN_FLAGS = os.O_RDONLY | sum(getattr(os, name, 0) for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC", "O_BINARY"))


class LocalFile:
    """An image or video opened once and checked by its descriptor; read it with read_at, then close it."""

    def __init__(self, path: Path, content_type: str, fd: int, info: os.stat_result) -> None:
        self.path = path
        self.name = path.name
        self.content_type = content_type
        self.size = info.st_size
        self.identity = _identity(info)
        self._fd = fd
        self._seek_lock = threading.Lock()  # only where there is no pread (Windows)

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (fewer only at the end of the file); safe from several threads at once."""
        parts: list[bytes] = []
        while length > 0:
            if hasattr(os, "pread"):
                chunk = os.pread(self._fd, length, offset)
            else:
                with self._seek_lock:
                    os.lseek(self._fd, offset, os.SEEK_SET)
                    chunk = os.read(self._fd, length)
            if not chunk:
                break
            parts.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        return b"".join(parts)

    def unchanged(self) -> bool:
        """Whether the file still has the size and modification time it had when checked (not its ctime: a rename or
        an unlink of the path changes that, and the descriptor still reads the checked file)."""
        info = os.fstat(self._fd)
        return (info.st_size, info.st_mtime_ns) == (self.size, self.identity[3])

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __enter__(self) -> LocalFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


@dataclass(frozen=True)
class FilePolicy:
    """What may be uploaded. `chosen` are files a person named on the command line (resolved): the folder rules,
    which guard against a model, do not apply to them; the content checks do."""

    allowed: tuple[Path, ...]
    output_dir: Path
    chosen: frozenset[Path] = field(default_factory=frozenset)

    def open(self, ref: str) -> LocalFile:
        """The file behind an absolute path or file:// URI, opened and checked, or FileRefused saying why not."""
        if is_unc(ref):  # before any file system call: on Windows, resolving one opens an SMB connection
            raise FileRefused(f"{_shown(ref)} names another host or a network share; only local files can be uploaded.")
        raw = _path_of(ref)
        if not raw.is_absolute():
            raise FileRefused(f"{_shown(ref)} is a relative path; give an absolute path or a file:// URI.")
        real = self._admitted(raw, ref)
        try:
            fd = os.open(real, OPEN_FLAGS)
        except OSError:
            if real.is_dir():
                raise FileRefused(f"{raw} is not a regular file.") from None
            raise FileRefused(
                f"{raw} does not exist or cannot be read (it changed while being checked?).{_permission_hint(raw)}"
            ) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise FileRefused(f"{raw} is not a regular file.")
            if info.st_size > MAX_UPLOAD_BYTES:
                raise FileRefused(f"{raw} is {info.st_size} bytes; the limit is {MAX_UPLOAD_BYTES}.")
            # The descriptor is the file an allowed path names now: resolve again and compare identities, which
            # catches a folder on the way swapped for a symlink (no-follow guards only the last name).
            again = self._admitted(raw, ref)
            try:
                named = os.stat(again)
            except OSError:
                named = None
            if named is None or (named.st_dev, named.st_ino) != (info.st_dev, info.st_ino):
                raise FileRefused(f"{raw} changed while it was being checked; try again.")
            local = LocalFile(real, "", fd, info)
            content_type = sniff(local.read_at(0, SNIFF_BYTES))
            if content_type is None or not content_type.startswith(("image/", "video/")):
                raise FileRefused(f"{raw} is not an image or a video by its content; only those can be uploaded.")
            local.content_type = content_type
            return local
        except BaseException:
            os.close(fd)
            raise

    def _admitted(self, raw: Path, ref: str) -> Path:
        """The resolved path, if it names something in an allowed folder that is neither hidden nor a system file."""
        try:
            real = raw.resolve(strict=True)
        except ValueError:  # a NUL byte, or a character the file system cannot encode
            raise FileRefused(f"{_shown(ref)} is not a valid path: it holds a NUL or an unencodable character.") from None
        except (OSError, RuntimeError):
            raise FileRefused(f"{raw} does not exist or cannot be read.{_permission_hint(raw)}") from None
        if is_unc(str(real)):  # a mapped drive or a symlink may still lead to a share
            raise FileRefused(f"{raw} is on a network share; only local files can be uploaded.")
        if real in self.chosen:
            return real
        if any(str(real) == r or str(real).startswith(r + os.sep) for r in SYSTEM_ROOTS if os.name != "nt"):
            raise FileRefused(f"{raw} is a system file; only images and videos in allowed folders can be uploaded.")
        root = self._root_of(real)
        if root is None:
            roots = ", ".join(str(p) for p in (*self.allowed, self.output_dir)) or "none"
            raise FileRefused(
                f"{raw} is outside the folders pika-mcp may read ({roots}). Move it there or add its folder to "
                "PIKA_MCP_ALLOWED_DIRS."
            )
        if root != self._real(self.output_dir) and (_hidden(raw, root) or _hidden(real, root)):
            raise FileRefused(f"{raw} is in a hidden file or folder; pika-mcp never uploads those.")
        return real

    def _root_of(self, real: Path) -> Path | None:
        for folder in (self.output_dir, *self.allowed):
            root = self._real(folder)
            if root is not None and real.is_relative_to(root):
                return root
        return None

    @staticmethod
    def _real(folder: Path) -> Path | None:
        try:
            return folder.resolve(strict=True)
        except (OSError, RuntimeError):
            return None


def _identity(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _permission_hint(path: Path) -> str:
    """On macOS, a file in Desktop, Documents or Downloads that cannot be read may only lack the user's permission."""
    if sys.platform != "darwin":
        return ""
    try:
        parts = path.relative_to(Path.home()).parts
    except ValueError:
        return ""
    if not parts or parts[0] not in MACOS_PROTECTED:
        return ""
    return (
        f" If it is there, macOS may be keeping it from the app that runs pika-mcp: allow that app (your MCP client or "
        f"terminal) in System Settings > Privacy & Security > Files and Folders ({parts[0]}) or Full Disk Access, then "
        "restart it."
    )


def _shown(ref: str) -> str:
    """A caller's path as a refusal quotes it: never longer than a line, whatever it holds."""
    shown = repr(ref[:SHOWN_CHARS])  # repr may make each character up to 10 (a control byte, a backslash)
    return shown if len(ref) <= SHOWN_CHARS and len(shown) <= 2 * SHOWN_CHARS else shown[: 2 * SHOWN_CHARS] + "..."


def _path_of(ref: str) -> Path:
    if ref.startswith("file://"):
        parsed = urlparse(ref)
        if parsed.netloc not in ("", "localhost"):
            raise FileRefused(f"{_shown(ref)} names another host ({parsed.netloc[:100]!r}); only local files can be uploaded.")
        path = unquote(parsed.path)
        if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
            path = path[1:]
        return Path(path)
    return Path(ref)


def _hidden(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = path.parts
    return any(part.startswith(".") for part in parts)

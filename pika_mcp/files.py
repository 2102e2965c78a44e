"""Which local files may be uploaded: allowed folders only, symlinks resolved, no hidden paths, images and videos only."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from pika_mcp.errors import FileRefused
from pika_mcp.sniff import SNIFF_BYTES, sniff

SYSTEM_ROOTS = ("/proc", "/sys", "/dev", "/run")  # never files a person means to share
MAX_UPLOAD_BYTES = 2 * 1024**3  # 2 GiB: far past any Pika input
SHOWN_CHARS = 120  # the most of a caller's path a refusal quotes
# macOS asks the user before an app reads these folders; a refused read looks like a missing file.
MACOS_PROTECTED = ("Desktop", "Documents", "Downloads")


@dataclass(frozen=True)
class LocalFile:
    path: Path
    content_type: str
    size: int


@dataclass(frozen=True)
class FilePolicy:
    """What may be uploaded. `chosen` are files a person named on the command line (resolved): the folder rules,
    which guard against a model, do not apply to them; the content checks do."""

    allowed: tuple[Path, ...]
    output_dir: Path
    chosen: frozenset[Path] = field(default_factory=frozenset)

    def check(self, ref: str) -> LocalFile:
        """The file behind an absolute path or file:// URI, or FileRefused saying why not."""
        raw = _path_of(ref)
        if not raw.is_absolute():
            raise FileRefused(f"{_shown(ref)} is a relative path; give an absolute path or a file:// URI.")
        try:
            real = raw.resolve(strict=True)
        except ValueError:  # a NUL byte, or a character the file system cannot encode
            raise FileRefused(f"{_shown(ref)} is not a valid path: it holds a NUL or an unencodable character.") from None
        except (OSError, RuntimeError):
            raise FileRefused(f"{raw} does not exist or cannot be read.{_permission_hint(raw)}") from None
        if real in self.chosen:
            return _content(raw, real)
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
        return _content(raw, real)

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


def _content(raw: Path, real: Path) -> LocalFile:
    """The checks every file passes, whoever named it: a regular file, not too large, an image or a video by its bytes."""
    try:
        info = real.stat()
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{raw} is not a regular file.")
        if info.st_size > MAX_UPLOAD_BYTES:
            raise FileRefused(f"{raw} is {info.st_size} bytes; the limit is {MAX_UPLOAD_BYTES}.")
        with real.open("rb") as source:
            content_type = sniff(source.read(SNIFF_BYTES))
    except OSError:
        raise FileRefused(f"{raw} does not exist or cannot be read.{_permission_hint(raw)}") from None
    if content_type is None or not content_type.startswith(("image/", "video/")):
        raise FileRefused(f"{raw} is not an image or a video by its content; only those can be uploaded.")
    return LocalFile(real, content_type, info.st_size)


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

"""`pika-mcp doctor`: checks an installation line by line, each failure with how to fix it. Never prints a secret."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from pika_mcp import __version__
from pika_mcp.settings import Settings, key_problem

PROBE_TIMEOUT = 10.0  # a status request answers at once; ten seconds covers a slow proxy
PROBE_ENDPOINT = "fal-ai/pika/v2.2/text-to-video"
MIN_TOKEN_LENGTH = 16
Level = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True)
class Line:
    level: Level
    topic: str
    text: str
    fix: str = ""


def check_key(settings: Settings, env: Mapping[str, str]) -> Line:
    if settings.fal_key is None:
        if env.get("FAL_KEY_ID", "").strip() or env.get("FAL_KEY_SECRET", "").strip():
            return Line("FAIL", "credentials", "only one of FAL_KEY_ID and FAL_KEY_SECRET is set",
                        "set both, or set FAL_KEY to 'key_id:key_secret'")  # fmt: skip
        return Line("warn", "credentials", "no fal key: the free local sandbox makes preview videos, not Pika's",
                    "to make real videos, set FAL_KEY (https://fal.ai/dashboard/keys)")  # fmt: skip
    source = "FAL_KEY" if env.get("FAL_KEY", "").strip() else "FAL_KEY_ID + FAL_KEY_SECRET"
    if key_problem(settings.fal_key) is not None:
        return Line("FAIL", "credentials", f"{source} is set but is not of the form key_id:key_secret",
                    "copy the whole key from https://fal.ai/dashboard/keys (it contains one ':'), or unset it to use the "
                    "free sandbox")  # fmt: skip
    return Line("ok", "credentials", f"{source} is set and well formed ({len(settings.fal_key)} characters)")


def check_queue(settings: Settings) -> Line:
    import httpx2

    if settings.embedded_sandbox:
        try:
            import pika_mcp.sandbox.app  # noqa: F401
        except ImportError as exc:
            return Line("FAIL", "queue", f"the embedded sandbox cannot load: {exc}", "reinstall pika-mcp")
        return Line("ok", "queue", f"embedded sandbox (started on demand, state in {settings.home / 'sandbox'})")
    assert settings.queue_url is not None
    if settings.backend == "sandbox":
        url, headers = f"{settings.queue_url}/_sandbox/health", {}
    else:
        # A status request for a request id nobody has: 404 means fal is reachable and took the key; it costs nothing.
        url = f"{settings.queue_url}/{PROBE_ENDPOINT}/requests/{uuid.UUID(int=0)}/status"
        headers = {"Authorization": f"Key {settings.fal_key}"}
    from pika_mcp.errors import FalError
    from pika_mcp.wire import translated

    try:
        with translated(settings.queue_url), httpx2.Client(timeout=PROBE_TIMEOUT) as http:
            status = http.get(url, headers=headers).status_code
    except FalError as exc:
        return Line("FAIL", "queue", f"{settings.queue_url} is unreachable ({type(exc.__cause__).__name__})",
                    "check the network, HTTPS_PROXY/NO_PROXY, SSL_CERT_FILE, or PIKA_MCP_QUEUE_URL")  # fmt: skip
    if status in (401, 403):
        return Line("FAIL", "queue", f"{settings.queue_url} refused the fal key (HTTP {status})",
                    "create a new key at https://fal.ai/dashboard/keys and set FAL_KEY")  # fmt: skip
    if status >= 500:
        return Line("FAIL", "queue", f"{settings.queue_url} answered HTTP {status}", "fal may be down; try again later")
    return Line("ok", "queue", f"{settings.queue_url} is reachable (HTTP {status})")


def check_database(settings: Settings) -> Line:
    """PIKA_MCP_DATABASE_URL: the connection, and the schema this version expects (migrated on connecting)."""
    try:
        from pika_mcp.pgschema import SCHEMA_VERSION, shown
        from pika_mcp.pgstore import PgLedger
    except ImportError:
        return Line("FAIL", "ledger", "PIKA_MCP_DATABASE_URL is set but the postgres extra is not installed",
                    "pip install 'pika-mcp[postgres]'")  # fmt: skip
    try:
        store = PgLedger(settings.database_url or "", pool_size=1)
        try:
            version = store.schema_version
        finally:
            store.close()
    except Exception as exc:  # ConfigError names the URL without its password
        return Line("FAIL", "ledger", str(exc), "check PIKA_MCP_DATABASE_URL and that the database accepts connections")
    if version != SCHEMA_VERSION:
        return Line("FAIL", "ledger", f"{shown(settings.database_url or '')} has schema {version}, this version expects "
                    f"{SCHEMA_VERSION}", "upgrade pika-mcp on every peer")  # fmt: skip
    return Line("ok", "ledger", f"PostgreSQL at {shown(settings.database_url or '')} answers (schema {version})")


def check_ledger(settings: Settings) -> Line:
    if settings.database_url:
        return check_database(settings)
    from pika_mcp.ledger import Ledger
    from pika_mcp.ledger_schema import SCHEMA_VERSION

    path = settings.home / "jobs.sqlite3"
    try:
        ledger = Ledger(path)
        try:
            version = ledger.schema_version
        finally:
            ledger.close()
    except (OSError, sqlite3.Error) as exc:
        return Line("FAIL", "ledger", f"{path} is not writable: {exc}", "set PIKA_MCP_HOME to a folder you can write")
    if version != SCHEMA_VERSION:
        return Line("FAIL", "ledger", f"{path} has schema {version}, this version expects {SCHEMA_VERSION}",
                    "upgrade pika-mcp, or point PIKA_MCP_HOME elsewhere")  # fmt: skip
    return Line("ok", "ledger", f"{path} is writable (schema {version})")


def check_output(settings: Settings) -> Line:
    folder = settings.output_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".pika-mcp-doctor-"):
            pass
    except OSError as exc:
        return Line("FAIL", "output dir", f"{folder} is not writable: {exc}", "set PIKA_MCP_OUTPUT_DIR to a folder you can write")
    free = shutil.disk_usage(folder).free / 1e9
    if free < 1:
        return Line("warn", "output dir", f"{folder}: only {free:.2f} GB free", "free space, or run `pika-mcp jobs --prune 30`")
    return Line("ok", "output dir", f"{folder} is writable ({free:.0f} GB free)")


def check_folders(settings: Settings) -> list[Line]:
    if settings.allowed_dirs is None:
        return [Line("ok", "folders", f"stdio: local files from {Path.home()} and the output dir; over HTTP: none",
                     )]  # fmt: skip
    lines = [Line("ok", "folders", "PIKA_MCP_ALLOWED_DIRS: " + (os.pathsep.join(map(str, settings.allowed_dirs)) or "(empty)"))]
    for folder in settings.allowed_dirs:
        if not folder.is_absolute():
            lines.append(
                Line("FAIL", "folders", f"{folder} is not an absolute path", "list absolute paths in PIKA_MCP_ALLOWED_DIRS")
            )
        elif not folder.is_dir():
            lines.append(Line("warn", "folders", f"{folder} does not exist", "create it or remove it from PIKA_MCP_ALLOWED_DIRS"))
    return lines


def check_tokens(settings: Settings) -> Line:
    if not settings.tokens:
        return Line("ok", "http", "no PIKA_MCP_TOKEN: `serve --http` listens on loopback only")
    short = sum(len(t) < MIN_TOKEN_LENGTH for t in settings.tokens)
    if short:
        return Line("warn", "http", f"{short} of {len(settings.tokens)} token(s) shorter than {MIN_TOKEN_LENGTH} characters",
                    "use long random tokens, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")  # fmt: skip
    return Line("ok", "http", f"{len(settings.tokens)} token(s) in PIKA_MCP_TOKEN, one per person")


def check_versions() -> Line:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "missing"

    text = f"pika-mcp {__version__}, mcp {version('mcp')}, Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    if version("mcp") == "missing" or not version("mcp").startswith("2."):
        return Line("FAIL", "versions", text, "reinstall pika-mcp (it needs mcp>=2.3,<3)")
    return Line("ok", "versions", text)


def check_media() -> Line:
    try:
        import av  # type: ignore[import-not-found,unused-ignore]
        import PIL  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return Line("warn", "media", "the media extra is not installed: no posters; duration, size and fps are null",
                    "pip install 'pika-mcp[media]'")  # fmt: skip
    return Line("ok", "media", f"media extra present (PyAV {av.__version__}, Pillow {PIL.__version__})")


def diagnose(settings: Settings, env: Mapping[str, str]) -> list[Line]:
    lines = [check_versions(), check_key(settings, env), check_queue(settings), check_ledger(settings), check_output(settings)]
    lines += check_folders(settings)
    lines += [check_tokens(settings), check_media()]
    budget = f"${settings.budget_usd:g} per 24 h" if settings.budget_usd is not None else "none (PIKA_MCP_BUDGET_USD unset)"
    lines.append(Line("ok", "settings", f"backend {settings.backend}, home {settings.home}, budget {budget}"))
    return lines


def doctor(settings: Settings, env: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    """Print every check; 1 if any failed."""
    lines = diagnose(settings, env)
    for line in lines:
        print(f"{line.level:<4}  {line.topic:<11} {line.text}", file=out)
        if line.fix:
            print(f"{'':4}  {'':<11} -> {line.fix}", file=out)
    failed = sum(line.level == "FAIL" for line in lines)
    print(f"\n{failed} problem(s) found." if failed else "\nAll checks passed.", file=out)
    return 1 if failed else 0

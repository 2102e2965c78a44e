"""People over HTTP: tokens of at least 32 characters, owner ids keyed by a secret kept with the ledger (old ids
moved at every start with tokens), and a home private to its user."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pika_mcp import runtime
from pika_mcp.cli import setup_logging
from pika_mcp.errors import ConfigError
from pika_mcp.job import LOCAL_OWNER, Job
from pika_mcp.ledger import Ledger
from pika_mcp.owners import KEY_FILE, owner_id, owner_key
from pika_mcp.server.http import check_exposure
from pika_mcp.settings import Settings
from tests.conftest import Fal
from tests.test_http import clean_env, free_port

pytestmark = pytest.mark.anyio

TOKEN_A = "alice-0123456789abcdef0123456789abcdef"
STRANGER = "a-token-no-longer-configured"
POSIX = pytest.mark.skipif(os.name == "nt", reason="file modes are POSIX")


def unkeyed(token: str) -> str:
    """The owner id earlier versions stored: a plain hash, recoverable from a dictionary of tokens."""
    return "t-" + hashlib.sha256(token.encode()).hexdigest()[:24]


def add_job(ledger: Ledger, owner: str, local_id: str) -> None:
    now = time.time()
    ledger.add(Job(local_id=local_id, owner=owner, tool="pika_v2_turbo_text_to_video", endpoint_id="fal-ai/pika/v2/turbo/text-to-video",
                   backend="sandbox", status="succeeded", estimated_cost_usd=0.0, arguments={"prompt": "p"}, args_key=local_id,
                   created_at=now, updated_at=now))  # fmt: skip


def owners(home: Path) -> dict[str, str]:
    ledger = Ledger(home / "jobs.sqlite3")
    try:
        return {job.local_id: job.owner for job in ledger._select("SELECT * FROM jobs", [])}
    finally:
        ledger.close()


def test_serve_http_refuses_a_token_under_32_characters_and_names_the_variable(tmp_path: Path) -> None:
    short = "x" * 31
    done = subprocess.run(
        [sys.executable, "-m", "pika_mcp", "serve", "--http", "--port", str(free_port())],
        env=clean_env(tmp_path, PIKA_MCP_TOKEN=f"{TOKEN_A},{short}"), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "PIKA_MCP_TOKEN" in done.stderr and "32 characters" in done.stderr
    assert short not in done.stderr and TOKEN_A not in done.stderr


def test_a_token_of_32_characters_is_enough(tmp_path: Path) -> None:
    settings = Settings.from_env({"PIKA_MCP_HOME": str(tmp_path), "PIKA_MCP_TOKEN": "y" * 32})
    check_exposure(settings, "127.0.0.1")
    with pytest.raises(ConfigError, match="PIKA_MCP_TOKEN"):
        check_exposure(dataclasses.replace(settings, tokens=("y" * 31,)), "127.0.0.1")


@POSIX
def test_the_owner_key_is_made_once_private_and_keys_the_ids(tmp_path: Path) -> None:
    key = owner_key(tmp_path / "home")
    assert len(key) == 32 and owner_key(tmp_path / "home") == key
    assert stat.S_IMODE((tmp_path / "home" / KEY_FILE).stat().st_mode) == 0o600
    assert owner_id(key, TOKEN_A) != owner_id(bytes(32), TOKEN_A)  # nothing to look up without the key
    assert hashlib.sha256(TOKEN_A.encode()).hexdigest()[:24] not in owner_id(key, TOKEN_A)


async def test_every_start_with_tokens_moves_old_owner_ids_and_a_start_without_moves_nothing(
    tmp_path: Path, settings: Settings, fal: Fal
) -> None:
    ledger = Ledger(settings.home / "jobs.sqlite3")
    add_job(ledger, unkeyed(TOKEN_A), "a")
    add_job(ledger, unkeyed(STRANGER), "s")
    add_job(ledger, LOCAL_OWNER, "l")
    ledger.close()

    async with runtime.start(settings):  # no tokens: nothing moves, no key is made
        pass
    assert owners(settings.home) == {"a": unkeyed(TOKEN_A), "s": unkeyed(STRANGER), "l": LOCAL_OWNER}
    assert not (settings.home / KEY_FILE).exists()

    with_tokens = dataclasses.replace(settings, tokens=(TOKEN_A,))
    async with runtime.start(with_tokens):
        pass
    key = owner_key(settings.home)
    moved = {"a": owner_id(key, TOKEN_A), "s": owner_id(key, unkeyed(STRANGER)), "l": LOCAL_OWNER}
    assert owners(settings.home) == moved

    ledger = Ledger(settings.home / "jobs.sqlite3")
    add_job(ledger, unkeyed(TOKEN_A), "a2")  # an older process on the same home wrote one more
    ledger.close()
    async with runtime.start(with_tokens):  # the migration runs at every start with tokens
        pass
    assert owners(settings.home) == moved | {"a2": owner_id(key, TOKEN_A)}
    assert not any(o.startswith("t-") for o in owners(settings.home).values())


@POSIX
async def test_the_home_and_what_pika_mcp_writes_there_are_private(tmp_path: Path, settings: Settings, fal: Fal) -> None:
    home = settings.home
    (home / "posters").mkdir(parents=True)
    os.chmod(home, 0o755)
    (home / "posters" / "old.jpg").write_bytes(b"\xff\xd8\xff")  # written by an earlier version under umask 022
    os.chmod(home / "posters" / "old.jpg", 0o644)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging(settings)
        logging.getLogger("pika_mcp").warning("a line for the log file")
        async with runtime.start(dataclasses.replace(settings, tokens=(TOKEN_A,))):
            pass
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = handlers, level
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            assert mode == 0o700, (path, oct(mode))
        elif path.is_file():
            assert mode == 0o600, (path, oct(mode))
    assert {"jobs.sqlite3", KEY_FILE, "pika-mcp.log", "old.jpg"} <= {p.name for p in home.rglob("*")}

"""Settings: the environment variables, handed over once by the CLI and read into one frozen record."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import platformdirs

from pika_mcp.errors import ConfigError

Backend = Literal["fal", "sandbox"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

DEFAULT_QUEUE_URL = "https://queue.fal.run"
DEFAULT_REST_URL = "https://rest.fal.ai"
DEFAULT_WAIT_SECONDS = 45
MAX_WAIT_SECONDS = 600
APP_NAME = "pika-mcp"
# fal keys are "<key id>:<key secret>", as fal's dashboard issues them; both halves printable, without spaces.
KEY_PART = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
DEFAULT_LEASE_SECONDS = 20  # a dead peer's jobs are taken over within a lease plus one look (30 s)
MIN_LEASE_SECONDS = 5  # renewed four times per lease: shorter would make a busy database look like a dead peer
MIN_TOKEN_CHARS = 32  # an HTTP token is a password anyone on the network may guess at: 32 characters, not a word


@dataclass(frozen=True)
class Settings:
    backend: Backend
    # None means "run the embedded sandbox and use its live address".
    queue_url: str | None
    rest_url: str | None
    home: Path
    output_dir: Path
    allowed_dirs: tuple[Path, ...] | None  # None: the transport's default (stdio: home dir; HTTP: none)
    fal_key: str | None = field(default=None, repr=False)
    budget_usd: float | None = None
    wait_seconds: int = DEFAULT_WAIT_SECONDS
    tokens: tuple[str, ...] = field(default=(), repr=False)
    allowed_hosts: tuple[str, ...] = ()
    tools: tuple[str, ...] | None = None
    log_level: LogLevel = "INFO"
    database_url: str | None = field(default=None, repr=False)  # its password is a secret like the key
    lease_seconds: float = DEFAULT_LEASE_SECONDS

    @property
    def embedded_sandbox(self) -> bool:
        return self.backend == "sandbox" and self.queue_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read every variable of the README's table from `env` (the CLI passes the process environment, tests a dict), once;
        raise ConfigError naming the variable at fault."""
        key = _key(env)
        backend = _backend(env.get("PIKA_MCP_BACKEND", "auto"), key)
        if backend == "fal" and key is None:
            raise ConfigError(
                "PIKA_MCP_BACKEND=fal needs fal credentials: set FAL_KEY (or FAL_KEY_ID and "
                "FAL_KEY_SECRET), or use PIKA_MCP_BACKEND=sandbox to try it without an account."
            )
        queue_url = _url(env, "PIKA_MCP_QUEUE_URL")
        rest_url = _url(env, "PIKA_MCP_REST_URL")
        if backend == "fal":
            queue_url = queue_url or DEFAULT_QUEUE_URL
            rest_url = rest_url or DEFAULT_REST_URL
        elif queue_url is not None:
            rest_url = rest_url or queue_url
        home = _path(env.get("PIKA_MCP_HOME")) or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        output = _path(env.get("PIKA_MCP_OUTPUT_DIR")) or Path(platformdirs.user_videos_dir()) / APP_NAME
        return cls(
            backend=backend,
            queue_url=queue_url,
            rest_url=rest_url,
            home=home,
            output_dir=output,
            allowed_dirs=_dirs(env.get("PIKA_MCP_ALLOWED_DIRS")),
            fal_key=key,
            budget_usd=_budget(env.get("PIKA_MCP_BUDGET_USD")),
            wait_seconds=_wait(env.get("PIKA_MCP_WAIT_SECONDS")),
            tokens=_list(env.get("PIKA_MCP_TOKEN")),
            allowed_hosts=_list(env.get("PIKA_MCP_ALLOWED_HOSTS")),
            tools=_list(env.get("PIKA_MCP_TOOLS")) or None,
            log_level=_level(env.get("PIKA_MCP_LOG_LEVEL", "INFO")),
            database_url=_database(env.get("PIKA_MCP_DATABASE_URL")),
            lease_seconds=_lease(env.get("PIKA_MCP_LEASE_SECONDS")),
        )


def _key(env: Mapping[str, str]) -> str | None:
    if key := env.get("FAL_KEY", "").strip():
        return key
    key_id, secret = env.get("FAL_KEY_ID", "").strip(), env.get("FAL_KEY_SECRET", "").strip()
    if key_id and secret:
        return f"{key_id}:{secret}"
    return None


def key_problem(key: str) -> str | None:
    """What is wrong with the form of a fal key, in words that never quote it; None if it looks like one.

    A malformed key never stops the server (the sandbox and the job tools work without fal); it is said at
    start and by `pika-mcp doctor`."""
    parts = key.split(":")
    if len(parts) != 2 or not all(KEY_PART.match(part) for part in parts):
        return f"the fal key ({len(key)} characters) is not of the form key_id:key_secret"
    return None


def _backend(value: str, key: str | None) -> Backend:
    value = value.strip().lower() or "auto"
    if value == "auto":
        return "fal" if key else "sandbox"
    if value in ("fal", "sandbox"):
        return value  # type: ignore[return-value]
    raise ConfigError(f"PIKA_MCP_BACKEND is {value!r}; use one of fal, sandbox, auto.")


def _url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip().rstrip("/")
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}.")
    return value


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value and value.strip() else None


def _dirs(value: str | None) -> tuple[Path, ...] | None:
    if value is None:
        return None
    return tuple(Path(part).expanduser() for part in value.split(os.pathsep) if part.strip())


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _budget(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        budget = float(value)
    except ValueError:
        raise ConfigError(f"PIKA_MCP_BUDGET_USD must be a number of dollars, got {value!r}.") from None
    if not math.isfinite(budget) or budget < 0:
        raise ConfigError(f"PIKA_MCP_BUDGET_USD must be zero or more, got {value!r}.")
    return budget


def _wait(value: str | None) -> int:
    if value is None or not value.strip():
        return DEFAULT_WAIT_SECONDS
    try:
        seconds = int(value)
    except ValueError:
        raise ConfigError(f"PIKA_MCP_WAIT_SECONDS must be whole seconds, got {value!r}.") from None
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise ConfigError(f"PIKA_MCP_WAIT_SECONDS must be between 0 and {MAX_WAIT_SECONDS}, got {seconds}.")
    return seconds


def _level(value: str) -> LogLevel:
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"PIKA_MCP_LOG_LEVEL is {value!r}; use DEBUG, INFO, WARNING or ERROR.")
    return level  # type: ignore[return-value]


def _database(value: str | None) -> str | None:
    url = (value or "").strip()
    if not url:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("PIKA_MCP_DATABASE_URL must be a postgresql:// URL (the value is not shown: it may hold a password).")
    return url


def _lease(value: str | None) -> float:
    if value is None or not value.strip():
        return DEFAULT_LEASE_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"PIKA_MCP_LEASE_SECONDS must be a number of seconds, got {value!r}.") from None
    if not math.isfinite(seconds) or seconds < MIN_LEASE_SECONDS:
        raise ConfigError(f"PIKA_MCP_LEASE_SECONDS must be at least {MIN_LEASE_SECONDS}, got {value!r}.")
    return seconds

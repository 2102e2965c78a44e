"""The command line: serve (stdio or HTTP), sandbox, demo, generate, jobs, doctor, config. The only reader of os.environ."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pika_mcp import __version__
from pika_mcp.errors import ConfigError, PikaError, scrub, secret_parts
from pika_mcp.owners import private_file, private_folder
from pika_mcp.settings import Settings

log = logging.getLogger("pika_mcp")

LOG_FILE_BYTES = 1_000_000
LOG_FILE_BACKUPS = 3
CLIENTS = ("claude-desktop", "claude-code", "cursor", "vscode")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pika-mcp", description="MCP server for Pika's video models on fal.ai.")
    p.add_argument("--version", action="version", version=f"pika-mcp {__version__}")
    sub = p.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--stateless", action="store_true", help="serve 2025-era clients without sessions")
    sandbox = sub.add_parser("sandbox", help="run the local fal-compatible sandbox server")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8766)
    sub.add_parser("demo", help="make a real video with no account, through the MCP client")
    generate = sub.add_parser("generate", help="make a video from the terminal (pika-mcp generate TOOL --help)", add_help=False)
    generate.add_argument("tool", nargs="?", help="a generation tool, e.g. pika_v22_text_to_video")
    generate.add_argument("rest", nargs=argparse.REMAINDER)
    jobs = sub.add_parser("jobs", help="recent jobs and the 24-hour spend")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument(
        "--prune", type=float, metavar="DAYS", help="delete the videos and posters pika-mcp saved for jobs finished over DAYS days ago"
    )
    jobs.add_argument("--dry-run", action="store_true", help="with --prune: list what would be deleted, delete nothing")
    sub.add_parser("doctor", help="check credentials, the queue, the ledger and folders")
    config = sub.add_parser("config", help="print a client's JSON configuration for this server")
    config.add_argument("client", choices=CLIENTS)
    return p


class RedactingFormatter(logging.Formatter):
    """Formats a record, then blanks out every secret: a line quoting fal's error or a traceback may hold one."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record), self._secrets)  # type: ignore[no-any-return]


class PrivateLogFile(logging.handlers.RotatingFileHandler):
    """The rotating log in PIKA_MCP_HOME, each file 0600 from its first line (it may quote prompts and URLs)."""

    def _open(self) -> Any:
        stream = super()._open()
        private_file(Path(self.baseFilename))
        return stream


def setup_logging(settings: Settings, *, to_file: bool = True, http: bool = False) -> None:
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    fmt = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secret_parts(settings.fal_key, *settings.tokens))
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(fmt)
    root.handlers[:] = [stderr]
    if to_file:
        try:
            private_folder(settings.home)
            private_folder(settings.home / "logs")
            handler = PrivateLogFile(
                settings.home / "logs" / "pika-mcp.log", maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
            )
            handler.setFormatter(fmt)
            root.addHandler(handler)
        except OSError as exc:
            log.warning("cannot write the log file in %s: %s", settings.home, exc)
    noisy = ["httpx2", "httpx", "httpcore", "httpcore2", "uvicorn.access", "mcp"]
    if not http:  # the embedded sandbox's uvicorn lines mean nothing to a stdio or terminal user
        noisy.append("uvicorn.error")
    for name in noisy:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = args.command or "serve"
    try:
        if command == "config":
            from pika_mcp.clients import client_config

            print(client_config(args.client))
            return 0
        settings = Settings.from_env(os.environ)
        setup_logging(settings, to_file=command in ("serve", "sandbox"), http=command == "sandbox" or bool(getattr(args, "http", False)))
        if command == "serve":
            return _serve(settings, args)
        if command == "sandbox":
            from pika_mcp.sandbox import run_sandbox

            run_sandbox(args.host, args.port, settings.home / "sandbox", allowed_hosts=settings.allowed_hosts)
            return 0
        if command == "demo":
            from pika_mcp.demo import run_demo

            return run_demo(settings)
        if command == "generate":
            from pika_mcp.terminal import generate

            return generate(settings, args.tool, args.rest)
        if command == "jobs":
            from pika_mcp.terminal import jobs

            return jobs(settings, args.limit, args.prune, dry_run=args.dry_run)
        if command == "doctor":
            from pika_mcp.doctor import doctor

            return doctor(settings, os.environ)
    except (ConfigError, PikaError) as exc:
        print(f"pika-mcp: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from pika_mcp.server import build_server

    if getattr(args, "http", False):
        from pika_mcp.http import serve_http

        return serve_http(settings, host=args.host, port=args.port, stateless=args.stateless)
    server = build_server(settings)
    server.mcp.run("stdio")
    return 0

"""The command line: serve (stdio or HTTP), sandbox, demo, generate, jobs, doctor, config. The only reader of os.environ."""

from __future__ import annotations

import argparse
import errno
import logging
import logging.handlers
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pika_mcp import __version__
from pika_mcp.client_configs import CLIENTS
from pika_mcp.errors import ConfigError, PikaError, scrub, secret_parts
from pika_mcp.owners import private_file, private_folder
from pika_mcp.settings import Settings, key_problem

log = logging.getLogger("pika_mcp")

LOG_FILE_BYTES = 1_000_000
LOG_FILE_BACKUPS = 3
PEOPLE = ("demo", "generate", "jobs", "doctor")  # commands whose stderr a person reads: log lines only with -v
VERBOSE_FLAGS = ("-v", "--verbose")
STDIO_HINT = (
    "pika-mcp speaks MCP on stdin and stdout: an MCP client (Claude Desktop, Cursor, VS Code, an agent) launches it.\n"
    "To try it yourself: `pika-mcp demo` makes a free local video; `pika-mcp generate --help` lists the tools.\n"
    "Serving MCP on stdin now; Ctrl-C (or Ctrl-D) stops it."
)


def parser() -> argparse.ArgumentParser:
    verbosity = argparse.ArgumentParser(add_help=False)
    verbosity.add_argument(*VERBOSE_FLAGS, action="store_true", default=argparse.SUPPRESS,
                           help="also print log lines (INFO and up) on stderr; they always go to the log file")  # fmt: skip
    p = argparse.ArgumentParser(prog="pika-mcp", description="MCP server for Pika's video models on fal.ai.", parents=[verbosity])
    p.add_argument("--version", action="version", version=f"pika-mcp {__version__}")
    sub = p.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)", parents=[verbosity])
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="with --http: the address to listen on (default %(default)s)")
    serve.add_argument("--port", type=int, default=8765, help="with --http: the port to listen on (default %(default)s)")
    serve.add_argument("--stateless", action="store_true", help="serve 2025-era clients without sessions")
    sandbox = sub.add_parser("sandbox", help="run the local fal-compatible sandbox server", parents=[verbosity])
    sandbox.add_argument("--host", default="127.0.0.1", help="the address to listen on (default %(default)s)")
    sandbox.add_argument("--port", type=int, default=8766, help="the port to listen on (default %(default)s)")
    sub.add_parser("demo", help="make a real video with no account, through the MCP client", parents=[verbosity])
    generate = sub.add_parser("generate", help="make a video from the terminal (pika-mcp generate TOOL --help)", add_help=False,
                              parents=[verbosity])  # fmt: skip
    generate.add_argument("-h", "--help", action="store_true", help="list the tools")
    generate.add_argument("tool", nargs="?", help="a generation tool, e.g. pika_v22_text_to_video")
    generate.add_argument("rest", nargs=argparse.REMAINDER)
    jobs = sub.add_parser("jobs", help="recent jobs and the 24-hour spend", parents=[verbosity])
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument(
        "--prune",
        type=float,
        metavar="DAYS",
        help="delete the videos and posters pika-mcp saved for jobs finished over DAYS days ago",
    )
    jobs.add_argument("--dry-run", action="store_true", help="with --prune: list what would be deleted, delete nothing")
    sub.add_parser("doctor", help="check credentials, the queue, the ledger and folders", parents=[verbosity])
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


def setup_logging(settings: Settings, *, to_file: bool = True, http: bool = False, quiet: bool = False) -> None:
    """stderr and the rotating file in the home; `quiet` (a person's command without -v) keeps stderr to warnings."""
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    fmt = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secret_parts(settings.fal_key, *settings.tokens))
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(fmt)
    if quiet:
        stderr.setLevel(max(logging.WARNING, root.level))
    for replaced in root.handlers:
        replaced.close()  # a log file opened by an earlier call in this process
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
            from pika_mcp.client_configs import client_config, key_hint

            print(client_config(args.client))
            print(key_hint(args.client), file=sys.stderr)
            return 0
        settings = Settings.from_env(os.environ)
        verbose = getattr(args, "verbose", False) or (command == "generate" and any(a in VERBOSE_FLAGS for a in args.rest))
        setup_logging(settings, to_file=command != "config", http=command == "sandbox" or bool(getattr(args, "http", False)),
                      quiet=command in PEOPLE and not verbose)  # fmt: skip
        if command in ("serve", "generate") and settings.fal_key is not None and (problem := key_problem(settings.fal_key)):
            log.warning("%s; calls to fal will be refused until it is fixed (see `pika-mcp doctor`)", problem)
        if command == "serve":
            return _serve(settings, args)
        if command == "sandbox":
            from pika_mcp.sandbox import run_sandbox

            if taken := port_taken(args.host, args.port):
                print(f"pika-mcp: {taken}", file=sys.stderr)
                return 1
            run_sandbox(args.host, args.port, settings.home / "sandbox", allowed_hosts=settings.allowed_hosts)
            return 0
        if command == "demo":
            from pika_mcp.demo import run_demo

            return run_demo(settings)
        if command == "generate":
            from pika_mcp.terminal import generate

            if args.help:
                return generate(settings, "--help", [])
            return generate(settings, args.tool, [a for a in args.rest if a not in VERBOSE_FLAGS])
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
        from pika_mcp.server.http import serve_http

        if taken := port_taken(args.host, args.port):
            print(f"pika-mcp: {taken}", file=sys.stderr)
            return 1
        return serve_http(settings, host=args.host, port=args.port, stateless=args.stateless)
    if sys.stdin is not None and sys.stdin.isatty():  # a person typed `pika-mcp`: a silent prompt helps no one
        print(STDIO_HINT, file=sys.stderr, flush=True)
    server = build_server(settings)
    server.mcp.run("stdio")
    return 0


def port_taken(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (said before anything claims to serve there), or None if it can."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError) as exc:
        return f"cannot listen on {host!r}: {exc}. Pass --host with a local address, e.g. 127.0.0.1."
    with socket.socket(family, kind, proto) as probe:
        if os.name != "nt":  # as uvicorn does; on Windows SO_REUSEADDR would let the probe share a port in use
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
                return f"port {port} on {host} is taken (another program, or another pika-mcp, listens there); stop it or pass --port."
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}. Pass --host with a local address, e.g. 127.0.0.1."
    return None

"""Streamable HTTP: /mcp behind one bearer token per person, /healthz beside it, Host and Origin checked."""

from __future__ import annotations

import contextlib
import functools
import hmac
import ipaddress
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from pika_mcp import __version__
from pika_mcp.errors import ConfigError
from pika_mcp.fleet import shared_owner_key
from pika_mcp.owners import owner_id
from pika_mcp.server.cors import with_cors
from pika_mcp.settings import MIN_TOKEN_CHARS, Settings

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
HEALTH_DATABASE_SECONDS = 5.0  # a peer whose database does not answer within this is not ready
# uvicorn waits for open connections before the lifespan ends; a client parked in a 10-minute wait
# must not hold shutdown hostage, and the ledger's writes finish inside the lifespan exit anyway.
GRACEFUL_SHUTDOWN_SECONDS = 10
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# The SDK needs an issuer URL with its token verifier; with no resource_server_url it is never
# published or contacted (no OAuth metadata routes are served). Tokens here are static, per person.
STATIC_ISSUER = "http://127.0.0.1/static-tokens"
# One person cannot fill the server's session table (the SDK's own cap, 10,000, is shared by everyone).
SESSIONS_PER_PERSON = 100


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class StaticTokens:
    """The SDK's TokenVerifier over PIKA_MCP_TOKEN: each token is one person, compared in constant time.

    A person's id (the AccessToken's client_id) is their owner id, HMAC-SHA256 of the token under the home's owner
    key: the same id scopes their ledger rows, their sessions and their log lines.
    """

    def __init__(self, tokens: tuple[str, ...], key: bytes) -> None:
        self._key = key
        self._known = [owner_id(key, t) for t in tokens]

    async def verify_token(self, token: str) -> Any:
        from mcp.server.auth.provider import AccessToken

        person = owner_id(self._key, token)
        known = False
        for who in self._known:  # every token is compared, whichever matches
            known |= hmac.compare_digest(person, who)
        if not known:
            return None
        return AccessToken(token=token, client_id=person, scopes=[])


def _hostport(value: str) -> tuple[str, str | None]:
    """`name`, `name:port`, `[v6]:port` or a full origin, split into (host, port or None)."""
    value = value.strip().rstrip("/")
    for scheme in ("http://", "https://"):
        value = value.removeprefix(scheme)
    if value.startswith("["):
        host, _, rest = value.partition("]")
        return host + "]", rest.removeprefix(":") or None
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, port or None
    return value, None


def transport_security(settings: Settings, host: str) -> Any:
    """DNS-rebinding protection: loopback names, the bound address, and PIKA_MCP_ALLOWED_HOSTS."""
    from mcp.server.transport_security import TransportSecuritySettings

    names: list[tuple[str, str | None]] = [(name, None) for name in LOOPBACK_NAMES]
    if not is_loopback(host) and host not in ("0.0.0.0", "::", ""):
        names.append((f"[{host}]" if ":" in host else host, None))
    names += [_hostport(h) for h in settings.allowed_hosts]
    hosts: list[str] = []
    origins: list[str] = []
    for name, port in names:
        suffixes = [f":{port}"] if port else ["", ":*"]
        for suffix in suffixes:
            hosts.append(name + suffix)
            origins += [f"http://{name}{suffix}", f"https://{name}{suffix}"]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def check_exposure(settings: Settings, host: str) -> None:
    if short := [len(t) for t in settings.tokens if len(t) < MIN_TOKEN_CHARS]:
        raise ConfigError(
            f"PIKA_MCP_TOKEN holds {len(short)} token(s) shorter than {MIN_TOKEN_CHARS} characters ({', '.join(map(str, short))}); "
            "anyone who can reach the server could guess one. Use long random tokens, e.g. the output of "
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"`.'
        )
    if not settings.tokens and not is_loopback(host):
        raise ConfigError(
            f"Refusing to serve on {host} without a token: anyone who can reach it could spend your fal credit. "
            "Set PIKA_MCP_TOKEN (comma-separated, one token per person), or bind --host 127.0.0.1."
        )


def build_app(
    settings: Settings, *, host: str = "127.0.0.1", stateless: bool = False, start: Callable[[], Any] | None = None
) -> Any:
    """The Starlette app: the MCP server at /mcp (auth and Host/Origin checks) and /healthz."""
    check_exposure(settings, host)  # before the heavy imports: a refusal is instant
    from mcp.server.auth.settings import AuthSettings
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from pika_mcp.server.app import build_server

    auth: dict[str, Any] = {}
    if settings.tokens:
        auth = {
            "token_verifier": StaticTokens(settings.tokens, shared_owner_key(settings)),
            "auth": AuthSettings(issuer_url=STATIC_ISSUER, resource_server_url=None),  # type: ignore[arg-type]
        }
    # remote: no local file is readable over HTTP unless PIKA_MCP_ALLOWED_DIRS says so.
    server = build_server(settings, start, remote=True, legacy_subscriptions=not stateless, **auth)

    async def healthz(request: Request) -> JSONResponse:
        """200 once tool calls can be served; 503 while starting (the embedded sandbox, say) or after a failed start."""
        state: str = server.state
        body: dict[str, Any] = {"status": "ok" if state == "ready" else state, "name": "pika-mcp", "version": __version__,
                "backend": settings.backend, "stateless": stateless}  # fmt: skip
        if state == "ready":  # which peer answered (several peers on one database), and the ledger it uses
            service = (await server.lifecycle.ready()).service
            body |= {"peer_id": service.tracker_id, "ledger": "postgresql" if settings.database_url else "sqlite"}
            if settings.database_url and not await database_answers(service.ledger):
                body["status"] = state = "database unreachable"  # not ready: a balancer sends calls to other peers
        return JSONResponse(body, status_code=200 if state == "ready" else 503)

    route: Callable[[Callable[[Request], Awaitable[JSONResponse]]], object] = server.mcp.custom_route(
        HEALTH_PATH, methods=["GET"]
    )
    route(healthz)
    security = transport_security(settings, host)
    app = server.mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        json_response=False,  # progress notifications need the SSE response stream
        stateless_http=stateless,
        transport_security=security,
        host=host,
    )
    with_cors(app, security.allowed_origins)  # browser-based hosts (MCP Apps) on the origins the Origin check allows
    # The SDK builds its session manager inside streamable_http_app and takes no factory: give that one manager
    # the per-person admission rule (the subclass adds no state, only the rule).
    server.mcp.session_manager.__class__ = per_person_sessions()
    return app


async def database_answers(store: Any) -> bool:
    import anyio

    try:
        with anyio.fail_after(HEALTH_DATABASE_SECONDS):
            await anyio.to_thread.run_sync(store.ping, abandon_on_cancel=True)
        return True
    except Exception:
        return False


class _PersonAtLimit(Exception):
    """This person already holds SESSIONS_PER_PERSON open sessions."""


@functools.cache
def per_person_sessions() -> type:
    """The SDK's session manager, admitting at most SESSIONS_PER_PERSON open sessions per person (made on first use:
    the SDK import is kept off the path of a refusal)."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.responses import JSONResponse

    class PerPersonSessions(StreamableHTTPSessionManager):
        def _admit_session(self, requestor: Any) -> Any:
            held = sum(1 for session in self._server_instances if self._session_owners.get(session) == requestor)
            if held >= SESSIONS_PER_PERSON:
                raise _PersonAtLimit
            return super()._admit_session(requestor)

        async def _handle_stateful_request(self, scope: Any, receive: Any, send: Any) -> None:
            try:
                await super()._handle_stateful_request(scope, receive, send)
            except _PersonAtLimit:  # raised at admission, before anything was sent
                log.warning("refused a new session: this person already holds %d", SESSIONS_PER_PERSON)
                message = (
                    f"You already have {SESSIONS_PER_PERSON} open sessions, the most one person may hold. End one "
                    "(DELETE /mcp with its Mcp-Session-Id), or let an idle one expire, then connect again."
                )
                body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
                await JSONResponse(body, status_code=429)(scope, receive, send)

    return PerPersonSessions


def serve_http(settings: Settings, host: str = "127.0.0.1", port: int = 8765, stateless: bool = False) -> int:
    """Serve until interrupted; 0 after a clean shutdown, 1 when the server could not start."""
    import uvicorn

    app = build_app(settings, host=host, stateless=stateless)
    if host in ("0.0.0.0", "::") and not settings.allowed_hosts:
        log.warning("bound to %s: only loopback Host headers are accepted until PIKA_MCP_ALLOWED_HOSTS names "
                    "the host clients use", host)  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    log.info("pika-mcp %s: streamable HTTP at http://%s:%d%s (%s, %d token(s), backend %s)", __version__, shown, port, MCP_PATH,
             "stateless" if stateless else "stateful", len(settings.tokens), settings.backend)  # fmt: skip
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # our handlers: stderr and the rotating file in PIKA_MCP_HOME
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.capture_signals = lambda: _stop_on_signals(server)  # type: ignore[method-assign]
    server.run()
    if not server.started:
        return 1
    log.info("pika-mcp HTTP server stopped; the ledger is closed")
    return 0


@contextlib.contextmanager
def _stop_on_signals(server: Any) -> Iterator[None]:
    """Ctrl-C or SIGTERM: a graceful shutdown and exit code 0 (uvicorn would re-raise the signal after it)."""
    from uvicorn.server import HANDLED_SIGNALS

    previous = {sig: signal.signal(sig, server.handle_exit) for sig in HANDLED_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

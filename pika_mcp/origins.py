"""Which URLs pika-mcp follows: the configured fal origins as they are, any other only over https to a public address."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from pika_mcp.errors import AnswerRefused

DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 6761: every name under localhost. is loopback, whatever DNS says.
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def origin(url: str) -> str | None:
    """`scheme://host:port`, lower-cased with the default port spelled out; None for a URL without an http(s) host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return f"{scheme}://{host}:{port or DEFAULT_PORTS[scheme]}"


class Origins:
    """The origins trusted as configured: PIKA_MCP_QUEUE_URL's, PIKA_MCP_REST_URL's, and the storage base_url once known."""

    def __init__(self, urls: Iterable[str | None] = ()) -> None:
        self._trusted: set[str] = set()
        for url in urls:
            if url:
                self.add(url)

    def add(self, url: str) -> None:
        if (found := origin(url)) is not None:
            self._trusted.add(found)

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and origin(url) in self._trusted

    def __iter__(self) -> Iterator[str]:
        """The trusted origins, as `scheme://host:port`, sorted."""
        return iter(sorted(self._trusted))


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names by itself, however it is spelled (`127.1`, `0x7f.0.0.1`, `2130706433`, `[::1]`)."""
    host = host.strip("[]").split("%", 1)[0].rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # the shorthand and numeric forms that the system resolver (inet_aton) accepts as IPv4
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def public(address: ipaddress.IPv4Address | ipaddress.IPv6Address | str) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local, unspecified, reserved or multicast."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def refusal(url: str, trusted: Origins) -> str | None:
    """Why `url` may not be fetched, judged from its text alone (no DNS lookup); None if it may.

    A configured origin passes as it is (http and loopback included); any other URL must be https to a host
    name, or to a literal public address. A name that resolves to a private address is caught at connect time.
    """
    if url in trusted:
        return None
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme.lower() != "https":
        return "only https URLs are fetched (besides the configured fal origins)"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "it names no host"
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return f"{host} is this machine"
    address = literal_address(host)
    if address is not None and not public(address):
        return f"{host} is not a public address"
    return None


def connect_guard(host: str) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """An httpx `trace` extension that refuses, before a byte is sent, a connection to a non-public address.

    `host` is the URL's host as the client connects to it (ASCII, IDNA-encoded). The address actually connected to
    is judged, so a name that resolves (or re-resolves) to this machine or the local network is caught; through a
    proxy the connection goes to another host, the proxy's, and the URL's host was judged by its text.
    """
    host = host.strip("[]").rstrip(".").lower()
    connecting = {"host": ""}

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            connecting["host"] = str(info.get("host", "")).strip("[]").rstrip(".").lower()
        elif event == "connection.connect_tcp.complete" and connecting["host"] == host:
            stream = info.get("return_value")
            address = stream.get_extra_info("server_addr") if stream is not None else None
            ip = str(address[0]) if address else ""
            try:
                allowed = public(ip)
            except ValueError:
                allowed = False
            if not allowed:
                if stream is not None:
                    await stream.aclose()
                raise AnswerRefused(
                    f"{host} is at {ip or 'an unknown address'}, which is not a public address; nothing was fetched."
                )

    return trace

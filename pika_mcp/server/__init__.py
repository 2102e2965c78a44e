"""The MCP edge (the only package that imports mcp.server): tools, resources, subscriptions and the HTTP transport."""

from pika_mcp.server.app import PikaServer, build_server
from pika_mcp.server.owner import owner_of

__all__ = ["PikaServer", "build_server", "owner_of"]

"""The sandbox: a local fal-compatible queue and storage server that renders preview MP4s."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pika_mcp.sandbox.app import Sandbox as Sandbox
    from pika_mcp.sandbox.config import FailSpec as FailSpec
    from pika_mcp.sandbox.config import Fault as Fault
    from pika_mcp.sandbox.config import SandboxConfig as SandboxConfig
    from pika_mcp.sandbox.prune import Pruned as Pruned
    from pika_mcp.sandbox.prune import prune_sandbox as prune_sandbox
    from pika_mcp.sandbox.record import ReceivedRequest as ReceivedRequest
    from pika_mcp.sandbox.serve import run_sandbox as run_sandbox
    from pika_mcp.sandbox.serve import serve_sandbox as serve_sandbox

# Imported on first use, so that importing `pika_mcp.sandbox.render` pulls in no HTTP server.
_EXPORTS = {
    "Sandbox": "app",
    "SandboxConfig": "config",
    "FailSpec": "config",
    "Fault": "config",
    "ReceivedRequest": "record",
    "Pruned": "prune",
    "prune_sandbox": "prune",
    "serve_sandbox": "serve",
    "run_sandbox": "serve",
}
__all__ = [
    "FailSpec",
    "Fault",
    "Pruned",
    "ReceivedRequest",
    "Sandbox",
    "SandboxConfig",
    "prune_sandbox",
    "run_sandbox",
    "serve_sandbox",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pika_mcp.sandbox' has no attribute {name!r}")
    return getattr(import_module(f"pika_mcp.sandbox.{module}"), name)

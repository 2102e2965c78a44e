"""Client configurations: the JSON each MCP client needs to launch this installation of pika-mcp."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SERVER_NAME = "pika"
CLIENTS = ("claude-desktop", "claude-code", "cursor", "vscode")
# Never a real key: each client gets the placeholder it can resolve (an env reference or an input prompt).
KEY_PLACEHOLDER = "<your fal.ai key from https://fal.ai/dashboard/keys>"


def launch_command(python: str | None = None) -> tuple[str, list[str]]:
    """This installation by absolute path: its interpreter running the package, so no PATH lookup is needed."""
    return str(Path(python or sys.executable).absolute()), ["-m", "pika_mcp", "serve"]


def client_config(client: str, python: str | None = None) -> str:
    """The JSON text that `client` reads to start this installation of pika-mcp over stdio."""
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; use one of {', '.join(CLIENTS)}")
    return json.dumps(config_object(client, *launch_command(python)), indent=2)


def config_object(client: str, command: str, args: list[str]) -> dict[str, Any]:
    """`client`'s configuration for a server launched as `command args` (manifests use the bare `pika-mcp`)."""
    if client == "claude-desktop":
        # claude_desktop_config.json has no variable expansion: the user pastes the key in place.
        server = {"command": command, "args": args, "env": {"FAL_KEY": KEY_PLACEHOLDER}}
        return {"mcpServers": {SERVER_NAME: server}}
    if client == "claude-code":
        # .mcp.json expands ${VAR} from the environment Claude Code runs in.
        server = {"type": "stdio", "command": command, "args": args, "env": {"FAL_KEY": "${FAL_KEY}"}}
        return {"mcpServers": {SERVER_NAME: server}}
    if client == "cursor":
        # ~/.cursor/mcp.json or .cursor/mcp.json; Cursor resolves ${env:VAR}.
        server = {"command": command, "args": args, "env": {"FAL_KEY": "${env:FAL_KEY}"}}
        return {"mcpServers": {SERVER_NAME: server}}
    # vscode: .vscode/mcp.json; VS Code prompts once for the key and stores it as a secret.
    return {
        "inputs": [{"type": "promptString", "id": "fal-key", "description": "fal.ai API key", "password": True}],
        "servers": {SERVER_NAME: {"type": "stdio", "command": command, "args": args, "env": {"FAL_KEY": "${input:fal-key}"}}},
    }

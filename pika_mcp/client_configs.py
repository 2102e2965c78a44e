"""Client configurations: the JSON each MCP client needs to launch this installation of pika-mcp."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SERVER_NAME = "pika"
CLIENTS = ("claude-desktop", "claude-code", "cursor", "vscode")
KEYS_PAGE = "https://fal.ai/dashboard/keys"
# How each client passes the key, for the hint on stderr. The printed JSON never has a FAL_KEY entry: pasted as
# printed it runs the free sandbox (a placeholder would select fal with a malformed key).
ENTRY = f'the "{SERVER_NAME}" entry'
KEY_ENTRY = {
    # claude_desktop_config.json has no variable expansion: the key itself goes in.
    "claude-desktop": f'add "env": {{"FAL_KEY": "<your key>"}} to {ENTRY}',
    # .mcp.json expands ${VAR} from the environment Claude Code runs in.
    "claude-code": f'add "env": {{"FAL_KEY": "${{FAL_KEY}}"}} to {ENTRY} and set FAL_KEY where Claude Code starts',
    # Cursor resolves ${env:VAR}.
    "cursor": f'add "env": {{"FAL_KEY": "${{env:FAL_KEY}}"}} to {ENTRY} and set FAL_KEY where Cursor starts',
    # VS Code prompts once for an input and keeps it as a secret.
    "vscode": f'add "env": {{"FAL_KEY": "${{input:fal-key}}"}} to {ENTRY}, and beside "servers" '
    '"inputs": [{"type": "promptString", "id": "fal-key", "description": "fal.ai API key", "password": true}]',
}


def launch_command(python: str | None = None) -> tuple[str, list[str]]:
    """This installation by absolute path: its interpreter running the package, with `-P` so that the client's
    working directory is not on sys.path (a `pika_mcp` folder there cannot shadow the installed one)."""
    return str(Path(python or sys.executable).absolute()), ["-P", "-m", "pika_mcp", "serve"]


def client_config(client: str, python: str | None = None) -> str:
    """The JSON text that `client` reads to start this installation of pika-mcp over stdio."""
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; use one of {', '.join(CLIENTS)}")
    return json.dumps(config_object(client, *launch_command(python)), indent=2)


def config_object(client: str, command: str, args: list[str]) -> dict[str, Any]:
    """`client`'s configuration for a server launched as `command args` (manifests use the bare `pika-mcp`)."""
    if client in ("claude-desktop", "cursor"):  # ~/.cursor/mcp.json or .cursor/mcp.json
        return {"mcpServers": {SERVER_NAME: {"command": command, "args": args}}}
    if client == "claude-code":
        return {"mcpServers": {SERVER_NAME: {"type": "stdio", "command": command, "args": args}}}
    return {"servers": {SERVER_NAME: {"type": "stdio", "command": command, "args": args}}}  # vscode: .vscode/mcp.json


def key_hint(client: str) -> str:
    """For stderr: what the printed configuration runs, and how to add a fal key to it."""
    return (
        "As printed, this runs the free local sandbox (preview videos, not Pika's model). To make real videos, get a key "
        f"at {KEYS_PAGE} and {KEY_ENTRY[client]}."
    )

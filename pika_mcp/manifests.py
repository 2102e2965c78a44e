"""The manifests in `manifests/` and the README's tool table, generated from what the server lists.

`python -m pika_mcp.manifests` rewrites them; `--check` exits 1 naming what drifted; `--readme` prints
the block that goes between the README's `<!-- tools -->` markers.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pika_mcp import __version__
from pika_mcp.client_configs import CLIENTS, config_object

REGISTRY_NAME = "io.github.pika-mcp/pika-mcp"
REPOSITORY = "https://github.com/pika-mcp/pika-mcp"
SERVER_SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
MCPB_VERSION = "0.3"
DESCRIPTION = "Pika's video models on fal.ai as MCP tools; every generation a durable, pollable job."  # at most 100
README_START, README_END = "<!-- tools -->", "<!-- /tools -->"
# What a user may set, as the registry and the bundle describe it (the README's Configuration table says the same).
ENVIRONMENT: tuple[dict[str, Any], ...] = (
    {"name": "FAL_KEY", "description": "fal.ai API key. Without it, a free local sandbox makes preview videos.",
     "isSecret": True, "isRequired": False},
    {"name": "PIKA_MCP_OUTPUT_DIR", "description": "Where finished videos are saved.", "format": "filepath"},
    {"name": "PIKA_MCP_ALLOWED_DIRS", "description": "Folders (os.pathsep-separated) local images and videos may be uploaded from.",
     "format": "filepath"},
    {"name": "PIKA_MCP_BUDGET_USD", "description": "Refuse new jobs once the estimated 24-hour spend would pass this.",
     "format": "number"},
    {"name": "PIKA_MCP_BACKEND", "description": "fal, sandbox, or auto (fal when a key is set).", "default": "auto",
     "choices": ["auto", "fal", "sandbox"]},
    {"name": "PIKA_MCP_TOOLS", "description": "Comma-separated tool names or globs to expose (default: all)."},
)  # fmt: skip


async def live_tools() -> list[dict[str, Any]]:
    """tools/list as a client sees it, from a server with no environment set (a scratch home)."""
    from mcp import Client

    from pika_mcp.server import build_server
    from pika_mcp.settings import Settings

    with tempfile.TemporaryDirectory(prefix="pika-mcp-manifests-") as scratch:
        settings = Settings.from_env({"PIKA_MCP_HOME": scratch, "PIKA_MCP_OUTPUT_DIR": str(Path(scratch) / "videos")})
        async with Client(build_server(settings).mcp) as client:
            tools, cursor = [], None
            while True:
                page = await client.list_tools(cursor=cursor)
                tools += [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in page.tools]
                if not (cursor := page.next_cursor):
                    return tools


def server_json() -> dict[str, Any]:
    """The MCP registry entry: the PyPI package, run over stdio."""
    return {
        "$schema": SERVER_SCHEMA,
        "name": REGISTRY_NAME,
        "description": DESCRIPTION,
        "repository": {"url": REPOSITORY, "source": "github"},
        "websiteUrl": REPOSITORY,
        "version": __version__,
        "packages": [
            {
                "registryType": "pypi",
                "registryBaseUrl": "https://pypi.org",
                "identifier": "pika-mcp",
                "version": __version__,
                "runtimeHint": "uvx",
                "transport": {"type": "stdio"},
                "environmentVariables": [dict(v) for v in ENVIRONMENT],
            }
        ],
    }


def mcpb_manifest(tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The MCP bundle (Claude Desktop one-click install): the key is asked for as a secret, folders as pickers."""
    return {
        "manifest_version": MCPB_VERSION,
        "name": "pika-mcp",
        "display_name": "Pika video (fal.ai)",
        "version": __version__,
        "description": DESCRIPTION,
        "long_description": (
            "Make videos with Pika's models on fal.ai. Every generation is a durable job the assistant can wait on, "
            "check and cancel; finished videos are saved in your output folder. Without a fal key, a local sandbox "
            "makes free preview videos so you can try every tool."
        ),
        "author": {"name": "pika-mcp developers", "url": REPOSITORY},
        "repository": {"type": "git", "url": REPOSITORY + ".git"},
        "homepage": REPOSITORY,
        "support": REPOSITORY + "/issues",
        "license": "MIT",
        "keywords": ["pika", "fal", "video", "generation"],
        "privacy_policies": ["https://fal.ai/privacy"],
        "server": {
            "type": "python",
            "entry_point": "server/main.py",
            "mcp_config": {
                "command": "python",
                "args": ["${__dirname}/server/main.py"],
                "env": {
                    "PYTHONPATH": "${__dirname}/server/lib",
                    "FAL_KEY": "${user_config.fal_key}",
                    "PIKA_MCP_OUTPUT_DIR": "${user_config.output_dir}",
                    "PIKA_MCP_ALLOWED_DIRS": "${user_config.allowed_dir}",
                    "PIKA_MCP_BUDGET_USD": "${user_config.budget_usd}",
                },
            },
        },
        "user_config": {
            "fal_key": {
                "type": "string",
                "title": "fal.ai API key",
                "sensitive": True,
                "required": False,
                "description": "From https://fal.ai/dashboard/keys. Leave empty to try the free local sandbox.",
            },
            "output_dir": {
                "type": "directory",
                "title": "Video folder",
                "required": False,
                "description": "Where finished videos are saved.",
                "default": "${HOME}/Videos/pika-mcp",
            },
            "allowed_dir": {
                "type": "directory",
                "title": "Folder for your images",
                "required": False,
                "description": "Local images and videos are uploaded only from here (and the video folder).",
                "default": "${HOME}",
            },
            "budget_usd": {
                "type": "number",
                "title": "24-hour budget (USD)",
                "required": False,
                "min": 0,
                "description": "Refuse new jobs once the estimated spend in the last 24 hours would pass this.",
                "default": 10,
            },
        },  # fmt: skip
        "tools": [{"name": t["name"], "description": t.get("description", "")} for t in tools],
        "compatibility": {"platforms": ["darwin", "win32", "linux"], "runtimes": {"python": ">=3.11"}},
    }


def client_examples() -> dict[str, dict[str, Any]]:
    """Each client's configuration for an installed `pika-mcp` command (`pika-mcp config` prints absolute ones)."""
    return {client: config_object(client, "pika-mcp", ["serve"]) for client in CLIENTS}


def readme_block(tools: Sequence[dict[str, Any]]) -> str:
    """The README's tool table, markers included."""
    rows = ["| Tool | Title | What it does |", "|---|---|---|"]
    for t in tools:
        description = " ".join(str(t.get("description", "")).split()).replace("|", "\\|")
        rows.append(f"| `{t['name']}` | {t.get('title', '')} | {description} |")
    return "\n".join([README_START, *rows, README_END])


def documents(tools: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every generated file, by its path under `manifests/`."""
    files: dict[str, Any] = {
        "tools.json": {"tools": list(tools)},
        "server.json": server_json(),
        "mcpb/manifest.json": mcpb_manifest(tools),
    }
    files |= {f"clients/{client}.json": config for client, config in client_examples().items()}
    return files


def dump(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def drift(root: Path, tools: Sequence[dict[str, Any]]) -> list[str]:
    """The generated files (and the README block, if the README has one) that differ from `tools`."""
    stale = []
    for name, document in documents(tools).items():
        path = root / "manifests" / name
        try:
            if json.loads(path.read_text(encoding="utf-8")) != document:
                stale.append(f"manifests/{name}")
        except (OSError, ValueError):
            stale.append(f"manifests/{name}")
    readme = root / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if README_START in text and readme_block(tools) not in text:
            stale.append("README.md (the block between <!-- tools --> and <!-- /tools -->)")
    return stale


def write(root: Path, tools: Sequence[dict[str, Any]]) -> list[Path]:
    written = []
    for name, document in documents(tools).items():
        path = root / "manifests" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(document), encoding="utf-8")
        written.append(path)
    readme = root / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if README_START in text and README_END in text:
            head, rest = text.split(README_START, 1)
            tail = rest.split(README_END, 1)[1]
            readme.write_text(head + readme_block(tools) + tail, encoding="utf-8")
            written.append(readme)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    import anyio

    p = argparse.ArgumentParser(prog="python -m pika_mcp.manifests", description=__doc__)
    p.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: here)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a manifest drifted")
    p.add_argument("--readme", action="store_true", help="print the README tool table block")
    args = p.parse_args(argv)
    tools = anyio.run(live_tools)
    if args.readme:
        print(readme_block(tools))
        return 0
    if args.check:
        stale = drift(args.root, tools)
        for name in stale:
            print(f"drifted: {name} (run python -m pika_mcp.manifests)", file=sys.stderr)
        return 1 if stale else 0
    for path in write(args.root, tools):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

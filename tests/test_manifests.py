"""The manifests and the README's tool table match what the server lists with no environment set."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from pika_mcp import __version__
from pika_mcp.manifests import README_END, README_START, documents, drift, live_tools, readme_block

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tools() -> list[dict[str, Any]]:
    return anyio.run(live_tools)


def test_tools_json_equals_the_live_tools_list(tools: list[dict[str, Any]]) -> None:
    exported = json.loads((ROOT / "manifests" / "tools.json").read_text())
    assert exported == {"tools": tools}
    for tool in exported["tools"]:
        assert {"name", "title", "description", "inputSchema", "outputSchema", "annotations"} <= set(tool)


def test_no_manifest_or_readme_table_drifts(tools: list[dict[str, Any]]) -> None:
    assert drift(ROOT, tools) == [], "run: python -m pika_mcp.manifests"


def test_drift_is_detected_when_a_tool_changes(tools: list[dict[str, Any]], tmp_path: Path) -> None:
    changed = [dict(tools[0], description="something else"), *tools[1:]]
    (tmp_path / "README.md").write_text(f"# x\n\n{readme_block(tools)}\n")
    for name, document in documents(tools).items():
        (tmp_path / "manifests" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "manifests" / name).write_text(json.dumps(document))
    assert drift(tmp_path, tools) == []
    assert {"manifests/tools.json", "manifests/mcpb/manifest.json"} <= set(drift(tmp_path, changed))
    assert any(s.startswith("README.md") for s in drift(tmp_path, changed))


def test_server_json_names_the_pypi_package_over_stdio() -> None:
    server = json.loads((ROOT / "manifests" / "server.json").read_text())
    assert server["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", server["name"])
    assert len(server["description"]) <= 100 and server["version"] == __version__
    (package,) = server["packages"]
    assert package["registryType"] == "pypi" and package["identifier"] == "pika-mcp" and package["version"] == __version__
    assert package["transport"] == {"type": "stdio"}
    key = next(v for v in package["environmentVariables"] if v["name"] == "FAL_KEY")
    assert key["isSecret"] is True


def test_bundle_asks_for_the_key_as_a_secret_and_for_folders(tools: list[dict[str, Any]]) -> None:
    bundle = json.loads((ROOT / "manifests" / "mcpb" / "manifest.json").read_text())
    assert bundle["user_config"]["fal_key"]["sensitive"] is True
    assert bundle["server"]["mcp_config"]["env"]["FAL_KEY"] == "${user_config.fal_key}"
    assert {c["type"] for c in bundle["user_config"].values()} >= {"directory"}
    assert [t["name"] for t in bundle["tools"]] == [t["name"] for t in tools]
    assert (ROOT / "manifests" / "mcpb" / bundle["server"]["entry_point"]).is_file()


def test_readme_block_has_one_row_per_tool(tools: list[dict[str, Any]]) -> None:
    block = readme_block(tools)
    assert block.startswith(README_START) and block.endswith(README_END)
    assert [line.split("`")[1] for line in block.splitlines() if line.startswith("| `")] == [t["name"] for t in tools]

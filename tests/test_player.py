"""The job player (MCP Apps) as a host sees it: tools bound to ui:// views, the views' CSP, and results unchanged."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from pika_mcp.catalog import ENDPOINTS
from pika_mcp.server import build_server
from pika_mcp.server.apps import GALLERY_URI, PLAYER_URI
from pika_mcp.settings import Settings
from tests.conftest import Fal, make_settings

pytestmark = pytest.mark.anyio

APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


def config_of(html: str) -> dict[str, Any]:
    found = re.search(r"const CONFIG = (\{.*?\}) \|\|", html)
    assert found, "the view carries its settings"
    return json.loads(found.group(1))


async def read_view(client: Client, uri: str) -> tuple[str, dict[str, Any]]:
    contents = (await client.read_resource(uri)).contents
    assert len(contents) == 1
    item = contents[0]
    assert item.mime_type == APP_MIME_TYPE
    dumped = item.model_dump(by_alias=True)
    return item.text, dumped["_meta"]["ui"]  # type: ignore[attr-defined]


async def test_generation_get_and_wait_show_the_player_and_list_the_gallery(settings: Settings) -> None:
    async with Client(build_server(settings).mcp, extensions=[APPS]) as client:
        tools = {t.name: t.model_dump(by_alias=True).get("_meta") or {} for t in (await client.list_tools()).tools}
    for endpoint in ENDPOINTS:
        assert tools[endpoint.tool]["ui"]["resourceUri"] == PLAYER_URI, endpoint.tool
    for name in ("pika_get_job", "pika_wait_for_job"):
        assert tools[name]["ui"] == {"resourceUri": PLAYER_URI, "visibility": ["model", "app"]}
    assert tools["pika_list_jobs"]["ui"] == {"resourceUri": GALLERY_URI, "visibility": ["model", "app"]}
    assert tools["pika_cancel_job"]["ui"] == {"visibility": ["model", "app"]}  # the player calls it; the model keeps it
    assert "ui" not in tools["pika_upload_file"]


async def test_both_views_are_self_contained_html_whose_csp_names_only_the_sandbox(settings: Settings, fal: Fal) -> None:
    async with Client(build_server(settings).mcp, extensions=[APPS]) as client:
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        assert {PLAYER_URI, GALLERY_URI} <= set(listed)
        for uri, mode in ((PLAYER_URI, "job"), (GALLERY_URI, "jobs")):
            html, ui = await read_view(client, uri)
            assert ui["csp"] == {"resourceDomains": [fal.url], "connectDomains": []}
            assert config_of(html)["mode"] == mode
            # nothing loaded from anywhere: no src/href to a URL, no @import, no fetch or XHR in the script
            assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
            assert "@import" not in html and "fetch(" not in html and "XMLHttpRequest" not in html
            assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html


async def test_on_fal_the_csp_lists_fals_media_hosts_by_name(tmp_path: Path) -> None:
    settings = Settings.from_env({"FAL_KEY": "id:secret", "PIKA_MCP_HOME": str(tmp_path / "home"),
                                  "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out")})  # fmt: skip
    assert settings.queue_url == "https://queue.fal.run"

    server = build_server(settings, _failing_start)  # fal itself is never contacted: the CSP follows from the queue URL
    async with Client(server.mcp, extensions=[APPS]) as client:
        _, ui = await read_view(client, PLAYER_URI)
    assert ui["csp"]["resourceDomains"] == ["https://fal.media", "https://*.fal.media"]
    assert "*" not in ui["csp"]["resourceDomains"] and ui["csp"]["connectDomains"] == []


def _failing_start() -> Any:
    from contextlib import asynccontextmanager

    from pika_mcp.errors import ConfigError

    @asynccontextmanager
    async def start() -> Any:
        raise ConfigError("no fal in this test")
        yield

    return start()


async def test_the_embedded_sandbox_csp_is_its_live_address(tmp_path: Path) -> None:
    settings = Settings.from_env({"PIKA_MCP_BACKEND": "sandbox", "PIKA_MCP_HOME": str(tmp_path / "home"),
                                  "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "out")})  # fmt: skip
    async with Client(build_server(settings).mcp, extensions=[APPS]) as client:
        _, ui = await read_view(client, PLAYER_URI)
    live = json.loads((tmp_path / "home" / "sandbox" / "address.json").read_text())["base_url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", live)
    assert ui["csp"]["resourceDomains"] == [live]


async def test_hidden_wait_and_cancel_tools_are_left_out_of_the_player(tmp_path: Path, fal: Fal) -> None:
    settings = make_settings(tmp_path, fal.url)
    settings = dataclasses.replace(settings, tools=("pika_v22_*", "pika_get_job", "pika_list_jobs"))
    async with Client(build_server(settings).mcp, extensions=[APPS]) as client:
        html, _ = await read_view(client, PLAYER_URI)
    assert config_of(html)["tools"] == {"pika_wait_for_job": False, "pika_cancel_job": False, "pika_get_job": True}


async def test_a_host_without_apps_gets_the_same_results_as_one_with_them(settings: Settings) -> None:
    server = build_server(settings)
    calls = [("pika_v2_turbo_text_to_video", {"prompt": "a fox in the snow", "wait_seconds": 30}),
             ("pika_list_jobs", {}), ("pika_cancel_job", {"job_id": "unknown"})]  # fmt: skip
    answers: list[list[Any]] = []
    async with Client(server.mcp) as plain, Client(server.mcp, extensions=[APPS]) as apps:
        first = await plain.call_tool(*calls[0])
        job_id = first.structured_content["job_id"]
        assert first.structured_content["status"] == "succeeded"
        for client in (plain, apps):
            got = []
            for name, args in [("pika_get_job", {"job_id": job_id}), ("pika_wait_for_job", {"job_id": job_id}), *calls[1:]]:
                got.append((await client.call_tool(name, args)).model_dump(by_alias=True))
            answers.append(got)
        plain_tools = [t.model_dump(by_alias=True) for t in (await plain.list_tools()).tools]
        apps_tools = [t.model_dump(by_alias=True) for t in (await apps.list_tools()).tools]
    assert answers[0] == answers[1]
    assert plain_tools == apps_tools  # the same list for everyone: the _meta.ui is only read by hosts that render
    assert not any(c["type"] == "resource" for result in answers[0] for c in result["content"])


def test_the_csp_adds_the_storage_base_url_once_fal_storage_named_it() -> None:
    from pika_mcp.origins import Origins
    from pika_mcp.server.apps import media_origins
    from pika_mcp.server.edge import Edge

    queue, rest = "http://127.0.0.1:8000/", "http://127.0.0.1:8000/rest"
    trusted = Origins([queue, rest])
    edge = Edge(None, None, None, queue, rest, trusted)  # type: ignore[arg-type]
    assert media_origins(edge, None, None) == ["http://127.0.0.1:8000"]
    trusted.add("https://cdn.storage.example/files/")  # what a storage token's base_url adds on the first upload
    assert media_origins(edge, None, None) == ["http://127.0.0.1:8000", "https://cdn.storage.example"]

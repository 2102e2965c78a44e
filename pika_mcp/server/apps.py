"""The job player (MCP Apps): the two ui:// views, the CSP they declare, and the `_meta.ui` that binds tools to them.

Hosts that render apps show a job as a small player and `pika_list_jobs` as a gallery; hosts that do not get the
same results as before (the extension only adds `_meta.ui` to tools and the two resources). Both views are one
self-contained HTML document (pika_mcp/views/jobs-app.html) in two modes; its CSP is computed when it is read,
once the runtime is up, because the embedded sandbox's address is only known then.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources as package_files
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mcp.server.apps import APP_MIME_TYPE, Apps, ResourceCsp
from mcp.server.mcpserver.resources import Resource
from mcp.server.mcpserver.tools.base import Tool
from pydantic import Field

from pika_mcp.catalog import ENDPOINTS
from pika_mcp.errors import PikaError
from pika_mcp.origins import origin
from pika_mcp.server.tools import selected

if TYPE_CHECKING:
    from pika_mcp.server.edge import Edge, Ready
    from pika_mcp.settings import Settings

PLAYER_URI = "ui://pika-mcp/job"
GALLERY_URI = "ui://pika-mcp/jobs"
# fal serves outputs from its media hosts (v3.fal.media, v3b.fal.media, ...): listed by name, never `*`.
FAL_MEDIA_ORIGINS = ("https://fal.media", "https://*.fal.media")
FAL_QUEUE_HOST = "fal.run"
# The player's own wait calls: short, so a person watching sees queued turn into running; a wait returns
# as soon as the job is final, so a short step costs nothing at the end.
PLAYER_WAIT_SECONDS = 2
# Where the person can also reach a tool; the model keeps seeing wait, get and cancel.
BOTH = ["model", "app"]
TEMPLATE = "jobs-app.html"
CONFIG_MARK = "/*PIKA_CONFIG*/null"


def media_origins(edge: Edge | None, queue_url: str | None, rest_url: str | None) -> list[str]:
    """The origins a job's video and poster may come from: fal's media hosts when the queue is fal's, else the
    configured queue and REST origins (the embedded sandbox's live address once it runs) and the storage base_url
    fal's storage named, once an upload has asked for it."""
    trusted: Iterable[str] = ()
    if edge is not None:
        queue_url, rest_url, trusted = edge.queue_url, edge.rest_url, edge.origins
    host = (urlsplit(queue_url or "").hostname or "").lower()
    if host == FAL_QUEUE_HOST or host.endswith("." + FAL_QUEUE_HOST):
        return list(FAL_MEDIA_ORIGINS)
    found: list[str] = []
    for url in (queue_url or "", rest_url or "", *trusted):
        if (full := origin(url)) is not None:
            plain = full.removesuffix(":443") if full.startswith("https:") else full.removesuffix(":80")
            if plain not in found:  # as a browser writes it: the default port left out
                found.append(plain)
    return found


class AppView(Resource):
    """A ui:// view whose `_meta.ui` (the CSP) is computed on every read, once the runtime is up.

    The SDK reads `meta` just after `read()` returns, with no await between, so setting it in `read` is safe."""

    mode: str = Field(exclude=True)
    settings: Any = Field(default=None, exclude=True)
    ready: Any = Field(default=None, exclude=True)

    async def read(self) -> str:
        edge = None
        try:
            edge = await self.ready()
        except PikaError:  # a failed start: the view still renders, with the configured origins
            pass
        origins = media_origins(edge, self.settings.queue_url, self.settings.rest_url)
        self.meta = ui_meta(origins)
        return page(self.mode, tools_present(self.settings))


def ui_meta(origins: list[str]) -> dict[str, Any]:
    csp = ResourceCsp(resource_domains=origins, connect_domains=[])
    return {"ui": {"csp": csp.model_dump(by_alias=True, exclude_none=True), "prefersBorder": True}}


def tools_present(settings: Settings) -> dict[str, bool]:
    """Which job tools the view may call: PIKA_MCP_TOOLS may hide wait, cancel or get, and the view does without."""
    names = ("pika_wait_for_job", "pika_cancel_job", "pika_get_job")
    return {name: selected(name, settings.tools) for name in names}


def page(mode: str, tools: dict[str, bool]) -> str:
    """The HTML with its settings (never job text) written in as JSON that cannot close the script element."""
    html = package_files.files("pika_mcp").joinpath("views", TEMPLATE).read_text(encoding="utf-8")
    config = {"mode": mode, "tools": tools, "waitSeconds": PLAYER_WAIT_SECONDS}
    return html.replace(CONFIG_MARK, json.dumps(config).replace("<", "\\u003c"), 1)


def apps_extension(settings: Settings, ready: Ready) -> Apps:
    """The MCP Apps extension holding the player and the gallery."""
    apps = Apps()
    meta = ui_meta(media_origins(None, settings.queue_url, settings.rest_url))  # listed before the first read
    views = ((PLAYER_URI, "job-player", "Pika job player", "Shows one Pika job: its status live, then the video.", "job"),
             (GALLERY_URI, "job-gallery", "Pika jobs", "Your recent Pika jobs as poster tiles, with the spend of the last 24 hours.",
              "jobs"))  # fmt: skip
    for uri, name, title, description, mode in views:
        view = AppView(uri=uri, name=name, title=title, description=description, mime_type=APP_MIME_TYPE, meta=meta, mode=mode)
        view.settings, view.ready = settings, ready
        apps.add_resource(view)
    return apps


def bind(tools: list[Tool]) -> list[Tool]:
    """`_meta.ui` on the tools: generation, get and wait show the player, list the gallery; cancel stays callable from it."""
    generation = {e.tool for e in ENDPOINTS}
    out = []
    for tool in tools:
        ui: dict[str, Any] | None = None
        if tool.name in generation:
            ui = {"resourceUri": PLAYER_URI}
        elif tool.name in ("pika_get_job", "pika_wait_for_job"):
            ui = {"resourceUri": PLAYER_URI, "visibility": BOTH}
        elif tool.name == "pika_cancel_job":
            ui = {"visibility": BOTH}
        elif tool.name == "pika_list_jobs":
            ui = {"resourceUri": GALLERY_URI, "visibility": BOTH}
        out.append(tool if ui is None else tool.model_copy(update={"meta": {**(tool.meta or {}), "ui": ui}}))
    return out

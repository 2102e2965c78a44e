"""Hostile local paths, given to a generation tool's media field and to pika_upload_file: refused by name, nothing sent.

Every refusal must be an isError result that says what is wrong (no traceback, not the SDK's generic
"Error executing tool"), must make no job, and must send fal nothing: no storage token, no upload, no submit.
The positive controls show that the same machinery does upload a real image, byte for byte, once.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client

from pika_mcp.files import MAX_UPLOAD_BYTES
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import Fal

pytestmark = pytest.mark.anyio

PNG = (Path(__file__).resolve().parent.parent / "pika_mcp" / "assets" / "fox.png").read_bytes()
POSIX = pytest.mark.skipif(os.name == "nt", reason="symlinks, FIFOs and /dev are POSIX features")
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
OUTSIDE = "outside the folders"
SYSTEM = "system file"
HIDDEN = "hidden file or folder"
NOT_MEDIA = "not an image or a video"
NOT_REGULAR = "not a regular file"
RELATIVE = "relative path"  # the upload tool says "is a relative path", the models "(relative paths are not accepted)"
INVALID = "not a valid path"


def allowed(tmp: Path) -> Path:
    return tmp / "allowed"  # what make_settings allows (it creates the folder)


def secret(tmp: Path) -> Path:
    """A real PNG outside every allowed folder: what a traversal would want to exfiltrate."""
    path = tmp / "outside" / "secret.png"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(PNG)
    return path


def put(path: Path, data: bytes = PNG) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def link(path: Path, target: Path | str) -> str:
    path.symlink_to(target)
    return str(path)


def fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


def huge(path: Path) -> str:
    """A sparse PNG one byte past the size cap: costs no disk, refused before reading."""
    with path.open("wb") as sink:
        sink.write(PNG[:64])
        sink.truncate(MAX_UPLOAD_BYTES + 1)
    return str(path)


def hidden_via_dotdot(folder: Path) -> str:
    """`sub/../.git/y.png`: the path as given and the path resolved both pass through a hidden folder."""
    put(folder / "sub" / "ok.png")
    put(folder / ".git" / "y.png")
    return f"{folder}/sub/../.git/y.png"


def case(name: str, make: Callable[[Path], str], says: str, *marks: pytest.MarkDecorator) -> object:
    return pytest.param(make, says, id=name, marks=marks)


ANOTHER_HOST = "names another host"
CASES = [
    case("dotdot", lambda t: f"{allowed(t)}/../outside/{secret(t).name}", OUTSIDE),
    case("dotdot-deep", lambda t: f"{allowed(t)}/a/../../outside/{secret(t).name}", "does not exist"),
    case("symlink-out", lambda t: link(allowed(t) / "link.png", secret(t)), OUTSIDE, POSIX),
    case("symlinked-dir-out", lambda t: link(allowed(t) / "dir", secret(t).parent) + "/secret.png", OUTSIDE, POSIX),
    case("symlink-to-proc", lambda t: link(allowed(t) / "env.png", "/proc/self/environ"), SYSTEM, LINUX),
    case("symlink-loop", lambda t: link(allowed(t) / "loop.png", allowed(t) / "loop.png"), "cannot be read", POSIX),
    case("proc-environ", lambda t: "/proc/self/environ", SYSTEM, LINUX),
    case("etc-hostname", lambda t: "/etc/hostname", OUTSIDE, LINUX),
    case("dev-zero", lambda t: "/dev/zero", SYSTEM, POSIX),
    case("dev-urandom", lambda t: "/dev/urandom", SYSTEM, POSIX),
    case("fifo", lambda t: fifo(allowed(t) / "pipe.png"), NOT_REGULAR, POSIX),
    case("hidden-file", lambda t: put(allowed(t) / ".secret.png"), HIDDEN),
    case("hidden-folder", lambda t: put(allowed(t) / ".git" / "x.png"), HIDDEN),
    case("hidden-via-dotdot", lambda t: hidden_via_dotdot(allowed(t)), HIDDEN),
    case("text-named-dot-png", lambda t: put(allowed(t) / ".png", b"just some notes\n"), HIDDEN),
    case("text-named-x-png", lambda t: put(allowed(t) / "notes.png", b"API_KEY=hunter2\n"), NOT_MEDIA),
    case("empty-png", lambda t: put(allowed(t) / "empty.png", b""), NOT_MEDIA),
    case("directory", lambda t: str(allowed(t)), NOT_REGULAR),
    case("over-the-size-cap", lambda t: huge(allowed(t) / "huge.png"), "the limit is", POSIX),
    case("missing", lambda t: str(allowed(t) / "nope.png"), "does not exist"),
    case("relative", lambda t: "x.png", RELATIVE),
    case("dot-relative", lambda t: "./allowed/x.png", RELATIVE),
    case("tilde", lambda t: "~/x.png", RELATIVE),
    case("nul-byte", lambda t: put(allowed(t) / "x.png") + "\x00.txt", INVALID),
    case("file-proc", lambda t: "file:///proc/self/environ", SYSTEM, LINUX),
    case("file-localhost-out", lambda t: f"file://localhost{secret(t)}", OUTSIDE),
    case("file-pct-dotdot", lambda t: f"file://{allowed(t)}/%2e%2e/outside/{secret(t).name}", OUTSIDE),
    case("file-pct-slash", lambda t: f"file://{allowed(t)}/..%2Foutside%2F{secret(t).name}", OUTSIDE),
    case("file-pct-nul", lambda t: f"file://{put(allowed(t) / 'x.png')}%00.txt", INVALID),
    case("file-query", lambda t: f"file://{secret(t)}?{put(allowed(t) / 'x.png')}", OUTSIDE),
    case("file-fragment", lambda t: f"file:///proc/self/environ#{put(allowed(t) / 'x.png')}", SYSTEM, LINUX),
    case("file-no-slashes", lambda t: f"file:{put(allowed(t) / 'x.png')}", RELATIVE),
    case("file-tilde", lambda t: "file://~/x.png", ANOTHER_HOST),
    case("file-other-host", lambda t: f"file://fileserver{put(allowed(t) / 'x.png')}", ANOTHER_HOST),
    # UNC paths: refused from their text on every platform, before any resolution (on Windows resolving one opens
    # an SMB connection to the host it names). POSIX reads `//tmp/…` as `/tmp/…`: these name an allowed image.
    case("unc-backslashes", lambda t: r"\\fileserver\share\x.png", ANOTHER_HOST),
    case("unc-slashes", lambda t: "//fileserver/share/x.png", ANOTHER_HOST),
    case("unc-slashes-to-an-allowed-file", lambda t: "/" + put(allowed(t) / "x.png"), ANOTHER_HOST, POSIX),
    case("file-four-slashes-to-an-allowed-file", lambda t: "file:///" + put(allowed(t) / "x.png"), ANOTHER_HOST, POSIX),
    case("file-four-slashes-host", lambda t: "file:////fileserver/share/x.png", ANOTHER_HOST),
    case("file-host-share", lambda t: "file://fileserver/share/x.png", ANOTHER_HOST),
    case("file-pct-slashes", lambda t: "file:///%2F%2Ffileserver/share/x.png", ANOTHER_HOST),
]


def refused(result: object, says: str) -> str:
    assert getattr(result, "is_error", False), result
    text = result.content[0].text  # type: ignore[attr-defined]
    assert says in text, text
    assert "Traceback" not in text and "Error executing tool" not in text, text
    return text


@pytest.mark.parametrize(("make", "says"), CASES)
async def test_a_hostile_path_is_refused_by_name_and_nothing_reaches_fal(
    tmp_path: Path, settings: Settings, fal: Fal, make: Callable[[Path], str], says: str
) -> None:
    ref = make(tmp_path)
    async with Client(build_server(settings).mcp) as client:
        with anyio.fail_after(10):  # a FIFO or /dev/zero read would hang or run away here
            upload = await client.call_tool("pika_upload_file", {"path": ref})
            made = await client.call_tool("pika_v22_image_to_video", {"image_url": ref, "prompt": "p"})
            frames = await client.call_tool("pika_v22_pikaframes", {"image_urls": [str(put(allowed(tmp_path) / "ok.png")), ref]})
        listing = await client.call_tool("pika_list_jobs", {})
    refused(upload, says)
    refused(made, says)
    refused(frames, says)
    assert listing.structured_content == {"jobs": [], "spend_24h_usd": 0.0}
    assert {op: len(fal.sent(op)) for op in ("token", "upload", "submit")} == {"token": 0, "upload": 0, "submit": 0}
    assert fal.sandbox.received == []


async def test_an_unencodable_path_is_refused_by_name(settings: Settings, fal: Fal) -> None:
    async with Client(build_server(settings).mcp) as client:
        upload = await client.call_tool("pika_upload_file", {"path": f"{settings.allowed_dirs[0]}/\ud800.png"})  # type: ignore[index]
    refused(upload, INVALID)
    assert fal.sandbox.received == []


async def test_a_real_image_reaches_storage_byte_for_byte_once(tmp_path: Path, settings: Settings, fal: Fal) -> None:
    real = Path(put(allowed(tmp_path) / "fox.png"))
    alias = link(allowed(tmp_path) / "alias.png", real) if os.name != "nt" else str(real)
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    async with Client(build_server(settings).mcp) as client:
        first = await client.call_tool("pika_upload_file", {"path": str(real)})
        assert not first.is_error, first.content
        again = [
            await client.call_tool("pika_upload_file", {"path": f"file://localhost{real}?v=2#top"}),
            await client.call_tool("pika_upload_file", {"path": alias}),
            await client.call_tool("pika_v22_image_to_video", {"image_url": str(real), "prompt": "the fox waves"}),
            await client.call_tool("pika_v2_turbo_image_to_video", {"image_url": data_uri, "prompt": "the fox waves"}),
        ]
    answer = first.structured_content
    assert answer is not None
    assert answer["content_type"] == "image/png" and answer["file_size"] == len(PNG)
    assert answer["sha256"] == hashlib.sha256(PNG).hexdigest()
    async with httpx2.AsyncClient() as http:
        stored = await http.get(answer["url"])
    assert stored.status_code == 200 and stored.content == PNG  # what fal's storage holds is exactly the file
    assert all(not r.is_error for r in again), [r.content for r in again]
    assert again[0].structured_content == again[1].structured_content == answer
    assert [s.json["image_url"] for s in fal.sent("submit")] == [answer["url"]] * 2
    assert len(fal.sent("upload")) == 1 and len(fal.sent("token")) == 1

"""The player and gallery in a real headless Chromium, hosted with the official AppBridge, against `serve --http`.

Needs Debian's chromium, Playwright for Python and the bundled bridge: `scripts/browser-setup` installs all three.
Without them these tests skip with the reason, except in CI (CI=true), where they fail instead.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.test_http import Served, free_port, start_server, stop_server

CHROMIUM = Path(os.environ.get("PIKA_CHROMIUM", "/usr/bin/chromium"))
BRIDGE_DIR = Path(
    os.environ.get("PIKA_BROWSER_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pika-mcp-browser"
)
HOST_PAGE = Path(__file__).parent / "browser" / "host.html"
# As root in a closed network Chromium needs these, or it hangs on background connections (reference/mcp-apps.md).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]  # fmt: skip
pytestmark = pytest.mark.xdist_group("browser")  # one server and one Chromium, where --dist loadgroup is used
TOKEN = "browser-host-token-0123456789abcdef"
DEADLINE_MS = 90_000  # a hang guard for a loaded machine, never a speed claim
HOSTILE = "<img src=x onerror=\"document.title='pwned';parent.postMessage('pwned','*')\"></script><script>document.title='pwned'</script>"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or run scripts/browser-setup)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright, or run scripts/browser-setup)"
    if not (BRIDGE_DIR / "app-bridge.js").exists():
        return f"the bundled AppBridge is not in {BRIDGE_DIR} (run scripts/browser-setup)"
    return None


def _need_browser() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@dataclass
class Sandbox:
    """The embedded sandbox of the served pika-mcp, reached through its control routes."""

    base: str
    token: str

    def configure(self, **switches: float) -> None:
        answer = httpx2.post(f"{self.base}/_sandbox/config", json=switches, headers={"X-Sandbox-Token": self.token})
        assert answer.status_code == 200, answer.text

    def result(self, request_id: str) -> httpx2.Response:
        return httpx2.get(f"{self.base}/fal-ai/pika/requests/{request_id}", headers={"Authorization": "Key sandbox"})


@dataclass
class Host:
    """The test host page in Chromium, on its own loopback origin, connected to the served pika-mcp."""

    page: Any
    served: Served
    sandbox: Sandbox
    artifacts: Path
    requests: list[tuple[str, str]] = field(default_factory=list)  # (frame url, request url) from the view's frame
    console: list[str] = field(default_factory=list)

    def run(self, tool: str, args: dict[str, Any], **options: Any) -> dict[str, Any]:
        return self.page.evaluate("([tool, args, options]) => host.run(tool, args, options)", [tool, args, options])

    @property
    def view(self) -> Any:
        return self.page.frame_locator("#apps iframe")

    @property
    def frame(self) -> Any:
        frames = [f for f in self.page.frames if f.parent_frame is not None]
        assert len(frames) == 1
        return frames[0]

    def wait_status(self, status: str) -> None:
        until(self.frame, f"document.getElementById('status-text').textContent === {json.dumps(status)}")

    def declared(self) -> list[str]:
        return self.page.evaluate("host.csp.resourceDomains")


def until(frame: Any, condition: str) -> None:
    """Wait, inside the page, until a JavaScript condition holds. Playwright's wait_for_function evaluates strings,
    which the view's CSP (no 'unsafe-eval') rightly refuses; this condition is compiled as part of the function."""
    frame.evaluate(f"""() => new Promise((resolve, reject) => {{
        const limit = setTimeout(() => reject(new Error({json.dumps("never true: " + condition)})), {DEADLINE_MS});
        const check = () => {{ if ({condition}) {{ clearTimeout(limit); resolve(true); }} else setTimeout(check, 50); }};
        check(); }})""")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Sandbox]]:
    _need_browser()
    tmp = tmp_path_factory.mktemp("player")
    served = start_server(tmp, PIKA_MCP_TOKEN=TOKEN, PIKA_MCP_WAIT_SECONDS="0")
    state = tmp / "home" / "sandbox"
    sandbox = Sandbox(json.loads((state / "address.json").read_text())["base_url"], (state / "control-token").read_text().strip())
    yield served, sandbox
    assert stop_server(served) == 0, served.log.read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The host page and the bundled bridge, served from their own loopback origin (not the MCP server's)."""
    _need_browser()
    root = tmp_path_factory.mktemp("site")
    shutil.copy(HOST_PAGE, root / "index.html")
    shutil.copy(BRIDGE_DIR / "app-bridge.js", root / "app-bridge.js")
    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()
    httpd.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go (PIKA_BROWSER_ARTIFACTS, else a temporary folder); the README copies them by hand."""
    folder = (
        Path(os.environ["PIKA_BROWSER_ARTIFACTS"])
        if os.environ.get("PIKA_BROWSER_ARTIFACTS")
        else tmp_path_factory.mktemp("shots")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def host(browser: Any, site: str, served: tuple[Served, Sandbox], artifacts: Path) -> Iterator[Host]:
    server, sandbox = served
    context = browser.new_context(viewport={"width": 900, "height": 900})
    page = context.new_page()
    page.set_default_timeout(DEADLINE_MS)
    found = Host(page, server, sandbox, artifacts)
    page.on("request", lambda r: r.frame.parent_frame is not None and found.requests.append((r.frame.url, r.url)))
    page.on("console", lambda m: found.console.append(m.text))
    page.goto(site)
    mcp = server.url.replace("127.0.0.1", "localhost")  # another origin than the page's: CORS, with a bearer token
    page.evaluate("([url, token]) => host.connect(url, token)", [mcp, TOKEN])
    yield found
    violations = [m for m in found.console if "Content Security Policy" in m or "Refused to" in m]
    assert violations == [], violations  # the view never tried to reach past its declared CSP
    declared = found.declared() if page.evaluate("host.csp !== null") else []
    for _frame_url, url in found.requests:
        scheme = urlsplit(url).scheme
        if scheme in ("data", "blob", "about"):
            continue
        assert f"{scheme}://{urlsplit(url).netloc}" in declared, f"the view requested {url} outside {declared}"
    context.close()


def test_the_player_follows_a_job_by_its_own_calls_to_a_playing_720p_video(host: Host) -> None:
    host.sandbox.configure(queue_seconds=2.5, run_seconds=3.0)
    args = {"prompt": "a lighthouse at dawn, waves below", "resolution": "720p", "duration": 5, "wait_seconds": 0}
    result = host.run("pika_v22_text_to_video", args)
    assert result["structuredContent"]["status"] == "queued"
    frame = host.frame
    frame.evaluate("""() => { window.seen = [];
        const note = () => { const s = document.getElementById('status-text').textContent;
                             if (window.seen[window.seen.length - 1] !== s) window.seen.push(s); };
        note(); new MutationObserver(note).observe(document.getElementById('status'), {subtree: true, childList: true,
                                                                                        characterData: true}); }""")
    assert host.view.get_by_role("status").text_content().startswith("queued")
    assert host.view.locator("#badge").is_visible()  # a sandbox preview, said so
    host.wait_status("succeeded")
    seen = frame.evaluate("window.seen")
    assert seen[0] == "queued" and "running" in seen and seen[-1] == "succeeded", seen
    assert seen.index("running") < seen.index("succeeded")
    calls = host.page.evaluate("host.appCalls")
    assert calls and set(calls) == {"pika_wait_for_job"}  # the view kept itself current; the model was not asked
    assert frame.evaluate("document.querySelectorAll('video').length") == 1
    until(frame, "document.querySelector('video').readyState >= 2")
    assert frame.evaluate("document.querySelector('video').videoWidth") == 1280
    assert frame.evaluate("document.querySelector('video').poster").startswith("data:image/jpeg;base64,")
    frame.evaluate("() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }")
    until(frame, "document.querySelector('video').currentTime > 0.5")
    assert "1280×720" in host.view.locator("#facts").inner_text()
    video_url = frame.evaluate("document.querySelector('video').src")
    assert urlsplit(video_url).netloc == urlsplit(host.sandbox.base).netloc
    host.view.get_by_role("link", name="Open").click()
    until(host.page, "host.opened.length === 1")
    assert host.page.evaluate("host.opened") == [video_url]
    assert (
        host.view.get_by_role("button", name="Cancel").count() == 0
        or not host.view.get_by_role("button", name="Cancel").is_visible()
    )
    for width in (320, 760):  # a narrow chat column and a wide one: nothing spills sideways
        host.page.evaluate(f"host.resize({width})")
        assert frame.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    host.page.evaluate("host.resize(440)")
    until(frame, "document.documentElement.clientWidth === 440")
    host.page.locator("#apps iframe").screenshot(path=str(host.artifacts / "player.png"))


def test_cancel_on_a_slow_job_ends_it_cancelled_at_the_sandbox(host: Host) -> None:
    host.sandbox.configure(queue_seconds=60.0, run_seconds=3.0)
    try:
        result = host.run("pika_v22_text_to_video", {"prompt": "a slow river", "wait_seconds": 0})
    finally:
        host.sandbox.configure(queue_seconds=1.0, run_seconds=2.0)
    job_id = result["structuredContent"]["job_id"]
    cancel = host.view.get_by_role("button", name="Cancel")
    cancel.click()
    host.wait_status("cancelled")
    assert "OK" in host.view.locator("#cancel-outcome").inner_text()
    assert not cancel.is_visible()
    assert "pika_cancel_job" in host.page.evaluate("host.appCalls")
    answer = host.sandbox.result(job_id)
    assert answer.status_code == 499 or "cancelled" in answer.text.lower(), (answer.status_code, answer.text)


def test_a_hostile_prompt_shows_as_text_and_runs_nothing(host: Host) -> None:
    host.sandbox.configure(queue_seconds=0.5, run_seconds=1.0)
    result = host.run("pika_v2_turbo_text_to_video", {"prompt": HOSTILE, "wait_seconds": 0})
    assert result["structuredContent"]["prompt"] == HOSTILE
    assert host.view.locator("#prompt").inner_text() == HOSTILE
    frame = host.frame
    host.wait_status("succeeded")
    assert frame.evaluate("document.querySelectorAll('img, script[src]').length") == 0
    assert frame.evaluate("document.title") != "pwned"
    assert host.page.evaluate("host.stray") == []  # no injected handler posted anything


def test_the_gallery_lists_the_jobs_with_posters_and_a_tile_opens_the_player(host: Host) -> None:
    host.sandbox.configure(queue_seconds=0.5, run_seconds=1.0)
    made = host.page.evaluate(
        "(prompts) => Promise.all(prompts.map((prompt) => host.call('pika_v2_turbo_text_to_video', {prompt, wait_seconds: 60})))",
        ["a paper boat on a pond", HOSTILE],
    )  # its own jobs (pytest -n)
    assert [m["structuredContent"]["status"] for m in made] == ["succeeded", "succeeded"]
    result = host.run("pika_list_jobs", {}, theme="dark", width=640)
    jobs = result["structuredContent"]["jobs"]
    assert len(jobs) >= 2
    tiles = host.view.locator("#tiles button")
    assert tiles.count() == len(jobs)
    with_posters = sum(1 for j in jobs if j["poster_uri"])
    assert with_posters >= 2
    until(
        host.frame,
        "[...document.querySelectorAll('img.thumb')].filter(i => i.src.startsWith('data:image/jpeg') "
        f"&& i.complete && i.naturalWidth > 0).length === {with_posters}",
    )
    assert "spent in the last 24 hours" in host.view.locator("#spend").inner_text()
    hostile = host.view.locator("#tiles button", has_text="<img src=x")
    assert hostile.count() >= 1  # the hostile prompt is a tile's text, not markup
    assert host.frame.evaluate("document.documentElement.dataset.theme") == "dark"
    host.page.locator("#apps iframe").screenshot(path=str(host.artifacts / "gallery.png"))
    first = jobs[[j["status"] for j in jobs].index("succeeded")]
    host.view.locator(f"#tiles button[data-job-id='{first['job_id']}']").click()
    assert host.view.get_by_role("status").text_content().startswith("succeeded")
    until(host.frame, "document.querySelector('video') && document.querySelector('video').readyState >= 1")
    assert host.view.get_by_role("button", name="All jobs").is_visible()

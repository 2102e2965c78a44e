"""The commands for people: config, generate, jobs (and --prune) and doctor."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pika_mcp.catalog import BY_TOOL
from pika_mcp.clients import CLIENTS
from pika_mcp.doctor import doctor
from pika_mcp.settings import Settings
from pika_mcp.terminal import _arguments, generate, jobs, tool_parser

SECRET = "0a1b2c3d-this-is:not-a-real-key-5e6f"


def settings_for(tmp: Path, **env: str) -> Settings:
    return Settings.from_env({"PIKA_MCP_BACKEND": "sandbox", "PIKA_MCP_HOME": str(tmp / "home"),
                              "PIKA_MCP_OUTPUT_DIR": str(tmp / "videos")} | env)  # fmt: skip


@pytest.mark.parametrize("client", CLIENTS)
def test_config_prints_only_json_that_launches_this_installation(client: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIKA_MCP_")} | {"FAL_KEY": SECRET}
    done = subprocess.run([sys.executable, "-m", "pika_mcp", "config", client], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)  # JSON only: nothing else on stdout
    servers = config["servers"] if client == "vscode" else config["mcpServers"]
    server = servers["pika"]
    assert Path(server["command"]).is_absolute() and Path(server["command"]).exists()
    launched = subprocess.run([server["command"], *server["args"], "--help"], capture_output=True, text=True, timeout=60)
    assert "pika-mcp" in launched.stdout
    assert SECRET not in done.stdout and "FAL_KEY" in server["env"]


def test_tool_help_lists_its_fields_with_types_and_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        generate(settings_for(Path("/nonexistent")), "pika_v22_pikaframes", ["--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    for field in ("--image_urls", "--transitions", "--resolution {720p,1080p}", "--seed", "--wait_seconds", "--force-new"):
        assert field in help_text


def test_generate_options_are_typed_from_the_catalog_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG")
    parser = tool_parser(BY_TOOL["pika_v22_pikaframes"])
    monkeypatch.chdir(tmp_path)
    args = _arguments(parser.parse_args(["--image-urls", "a.png", "--image_urls", "https://x.example/b.png", "--seed", "7",
                                         "--transitions", '{"duration": 3, "prompt": "zoom"}', "--force-new"]))  # fmt: skip
    assert args == {"image_urls": [str(image), "https://x.example/b.png"], "seed": 7,
                    "transitions": [{"duration": 3, "prompt": "zoom"}], "force_new": True}  # fmt: skip
    as_json = _arguments(parser.parse_args(["--image_urls", '["https://x.example/a.png", "https://x.example/b.png"]']))
    assert as_json["image_urls"] == ["https://x.example/a.png", "https://x.example/b.png"]
    with pytest.raises(SystemExit):
        tool_parser(BY_TOOL["pika_v22_text_to_video"]).parse_args(["--prompt", "x", "--duration", "five"])


def test_generate_refused_by_the_server_says_why_and_exits_2(tmp_path: Path) -> None:
    err = io.StringIO()
    code = generate(settings_for(tmp_path), "pika_v21_text_to_video", ["--prompt", "a fox", "--duration", "11"], io.StringIO(), err)
    assert code == 2
    assert "duration" in err.getvalue()


def test_generate_shows_progress_prints_the_video_path_and_jobs_lists_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    code = generate(settings, "pika_v2_turbo_text_to_video", ["--prompt", "a paper boat on a pond"], out, err)
    assert code == 0, err.getvalue()
    video = Path(out.getvalue().strip())
    assert video.is_file() and video.parent == settings.output_dir
    assert "[" in err.getvalue() and "succeeded" in err.getvalue()

    table = io.StringIO()
    assert jobs(settings, 20, None, table) == 0
    assert "pika_v2_turbo_text_to_video" in table.getvalue() and "succeeded" in table.getvalue()
    assert str(video) in table.getvalue() and "Estimated spend in the last 24 hours" in table.getvalue()


def test_jobs_with_no_ledger_says_so(tmp_path: Path) -> None:
    out = io.StringIO()
    assert jobs(settings_for(tmp_path), 20, None, out) == 0
    assert "No jobs yet" in out.getvalue()


def test_doctor_passes_a_sandbox_install_and_never_prints_a_key(tmp_path: Path) -> None:
    out = io.StringIO()
    assert doctor(settings_for(tmp_path), {}, out) == 0, out.getvalue()
    assert "ok    ledger" in out.getvalue() and "sandbox" in out.getvalue()


def test_doctor_fails_a_malformed_key_and_an_unreachable_queue_with_fixes(tmp_path: Path) -> None:
    env = {"FAL_KEY": "no-colon-" + SECRET.replace(":", ""), "PIKA_MCP_BACKEND": "fal", "PIKA_MCP_QUEUE_URL": "http://127.0.0.1:9"}
    out = io.StringIO()
    assert doctor(settings_for(tmp_path, **env), env, out) == 1
    text = out.getvalue()
    assert "FAIL  credentials" in text and "FAIL  queue" in text and "->" in text
    assert env["FAL_KEY"] not in text and SECRET not in text

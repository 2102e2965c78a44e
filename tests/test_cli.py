"""The commands for people: config, generate, jobs (and --prune) and doctor."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import pika_mcp
from pika_mcp.catalog import BY_TOOL, ENDPOINTS
from pika_mcp.cli import main
from pika_mcp.client_configs import CLIENTS
from pika_mcp.doctor import doctor
from pika_mcp.options import arguments_of, tool_parser
from pika_mcp.settings import Settings
from pika_mcp.terminal import generate, jobs
from tests.conftest import Fal

SECRET = "0a1b2c3d-this-is:not-a-real-key-5e6f"


def settings_for(tmp: Path, **env: str) -> Settings:
    return Settings.from_env({"PIKA_MCP_BACKEND": "sandbox", "PIKA_MCP_HOME": str(tmp / "home"),
                              "PIKA_MCP_OUTPUT_DIR": str(tmp / "videos")} | env)  # fmt: skip


@pytest.mark.parametrize("client", CLIENTS)
def test_config_prints_only_json_that_launches_this_installation_with_no_key_entry(client: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIKA_MCP_")} | {"FAL_KEY": SECRET}
    done = subprocess.run(
        [sys.executable, "-m", "pika_mcp", "config", client], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)  # JSON only: nothing else on stdout
    servers = config["servers"] if client == "vscode" else config["mcpServers"]
    server = servers["pika"]
    assert Path(server["command"]).is_absolute() and Path(server["command"]).exists()
    assert server["args"][:3] == ["-P", "-m", "pika_mcp"]  # the client's working directory is not on sys.path
    launched = subprocess.run([server["command"], *server["args"], "--help"], capture_output=True, text=True, timeout=60)
    assert "pika-mcp" in launched.stdout
    # No FAL_KEY entry of any kind: no placeholder, no ${...} reference, no input prompt.
    assert "FAL_KEY" not in done.stdout and "${" not in done.stdout and "inputs" not in config and SECRET not in done.stdout
    assert "FAL_KEY" in done.stderr and "https://fal.ai/dashboard/keys" in done.stderr and "sandbox" in done.stderr


@pytest.mark.anyio
async def test_a_config_pasted_as_printed_runs_the_sandbox_and_cannot_be_shadowed(tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    done = subprocess.run(
        [sys.executable, "-m", "pika_mcp", "config", "claude-desktop"], capture_output=True, text=True, timeout=60
    )
    server = json.loads(done.stdout)["mcpServers"]["pika"]
    project = tmp_path / "project"  # a client started in a folder holding code named like the package
    (project / "pika_mcp").mkdir(parents=True)
    (project / "pika_mcp" / "__init__.py").write_text("raise SystemExit('the project folder shadowed pika_mcp')\n")
    (project / "pika_mcp" / "__main__.py").write_text("raise SystemExit('the project folder shadowed pika_mcp')\n")
    env = {
        "PIKA_MCP_HOME": str(tmp_path / "home"),
        "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "videos"),
        "PIKA_MCP_LOG_LEVEL": "WARNING",
    }
    params = StdioServerParameters(command=server["command"], args=server["args"], env=server.get("env", {}) | env, cwd=project)
    with anyio.fail_after(120):
        async with Client(params) as client:
            result = await client.call_tool("pika_v2_turbo_text_to_video", {"prompt": "pasted as printed", "wait_seconds": 60})
    assert not result.is_error, result.content
    assert result.structured_content["backend"] == "sandbox"
    assert result.structured_content["status"] == "succeeded"


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
    args = arguments_of(parser.parse_args(["--image-urls", "a.png", "--image_urls", "https://x.example/b.png", "--seed", "7",
                                         "--transitions", '{"duration": 3, "prompt": "zoom"}', "--force-new"]))  # fmt: skip
    assert args == {"image_urls": [str(image), "https://x.example/b.png"], "seed": 7,
                    "transitions": [{"duration": 3, "prompt": "zoom"}], "force_new": True}  # fmt: skip
    as_json = arguments_of(parser.parse_args(["--image_urls", '["https://x.example/a.png", "https://x.example/b.png"]']))
    assert as_json["image_urls"] == ["https://x.example/a.png", "https://x.example/b.png"]
    with pytest.raises(SystemExit):
        tool_parser(BY_TOOL["pika_v22_text_to_video"]).parse_args(["--prompt", "x", "--duration", "five"])


def test_generate_refused_by_the_server_says_why_and_exits_2(tmp_path: Path) -> None:
    err = io.StringIO()
    code = generate(
        settings_for(tmp_path), "pika_v21_text_to_video", ["--prompt", "a fox", "--duration", "11"], io.StringIO(), err
    )
    assert code == 2
    assert "duration" in err.getvalue()


def test_generate_shows_progress_prints_the_video_path_says_when_repeated_and_jobs_lists_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    code = generate(settings, "pika_v2_turbo_text_to_video", ["--prompt", "a paper boat on a pond"], out, err)
    assert code == 0, err.getvalue()
    video = Path(out.getvalue().strip())
    assert video.is_file() and video.parent == settings.output_dir
    assert "[" in err.getvalue() and "succeeded" in err.getvalue() and "identical" not in err.getvalue()

    again_out, again = io.StringIO(), io.StringIO()
    assert generate(settings, "pika_v2_turbo_text_to_video", ["--prompt", "a paper boat on a pond"], again_out, again) == 0
    assert "identical call" in again.getvalue() and "--force-new" in again.getvalue()
    assert again_out.getvalue() == out.getvalue()

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
    env = {
        "FAL_KEY": "no-colon-" + SECRET.replace(":", ""),
        "PIKA_MCP_BACKEND": "fal",
        "PIKA_MCP_QUEUE_URL": "http://127.0.0.1:9",
    }
    out = io.StringIO()
    assert doctor(settings_for(tmp_path, **env), env, out) == 1
    text = out.getvalue()
    assert "FAIL  credentials" in text and "FAIL  queue" in text and "->" in text
    assert env["FAL_KEY"] not in text and SECRET not in text


# -- help ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """cli.main sets up logging in this process: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment cli.main reads: the sandbox, a home and an output folder under tmp_path."""
    for name in [n for n in os.environ if n.startswith(("PIKA_MCP_", "FAL_KEY"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIKA_MCP_BACKEND", "sandbox")
    monkeypatch.setenv("PIKA_MCP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIKA_MCP_OUTPUT_DIR", str(tmp_path / "videos"))
    return tmp_path / "home"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_generate_help_lists_every_tool_and_exits_0(flag: str, home: Path, cli_logging: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["generate", flag]) == 0
    listed = capsys.readouterr().out
    for endpoint in ENDPOINTS:
        assert endpoint.tool in listed


@pytest.mark.parametrize("tool", [e.tool for e in ENDPOINTS])
def test_every_field_of_every_tool_has_help_and_defaults_print_properly(tool: str) -> None:
    parser = tool_parser(BY_TOOL[tool])
    for action in parser._actions:
        assert action.help and action.help.strip(), f"{action.option_strings} has no help"
    text = parser.format_help()
    assert "(default )" not in text and "Default: ." not in text
    prompt = next((a for a in parser._actions if "--prompt" in a.option_strings), None)
    if prompt is not None:
        assert "2500 characters" in prompt.help


# -- paths typed on the command line ---------------------------------------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A working directory outside the allowed folders, holding an image in a hidden folder and a text file."""
    work = tmp_path / "work"
    (work / ".drafts").mkdir(parents=True)
    shutil.copyfile(Path(pika_mcp.__file__).parent / "assets" / "fox.png", work / ".drafts" / "fox.png")
    (work / "notes.png").write_text("a text file with an image's name")
    (tmp_path / "allowed").mkdir()
    monkeypatch.chdir(work)
    return settings_for(tmp_path, PIKA_MCP_ALLOWED_DIRS=str(tmp_path / "allowed"))


def test_a_relative_path_typed_on_the_command_line_is_read_from_the_working_directory(elsewhere: Settings) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = generate(elsewhere, "pika_v2_turbo_image_to_video", ["--prompt", "a fox", "--image_url", ".drafts/fox.png"], out, err)
    assert code == 0, err.getvalue()
    assert Path(out.getvalue().strip()).is_file()


def test_the_folder_rules_still_guard_the_same_file_from_a_model(elsewhere: Settings) -> None:
    async def upload() -> Any:
        from mcp import Client

        from pika_mcp.server import build_server

        async with Client(build_server(elsewhere).mcp) as client:
            return await client.call_tool("pika_upload_file", {"path": str(Path(".drafts/fox.png").absolute())})

    result = anyio.run(upload)
    assert result.is_error and "outside the folders" in result.content[0].text


def test_a_typed_path_still_passes_the_content_check(elsewhere: Settings) -> None:
    err = io.StringIO()
    code = generate(
        elsewhere, "pika_v2_turbo_image_to_video", ["--prompt", "a fox", "--image_url", "notes.png"], io.StringIO(), err
    )
    assert code == 2
    assert "not an image or a video by its content" in err.getvalue()


def test_a_missing_file_is_reported_missing_once(elsewhere: Settings) -> None:
    err = io.StringIO()
    code = generate(elsewhere, "pika_v2_turbo_image_to_video", ["--prompt", "a fox", "--image_url", "imgs/missing.png"],
                    io.StringIO(), err)  # fmt: skip
    said = err.getvalue()
    assert code == 2
    assert "no such file" in said and said.count("missing.png") == 1, said
    assert "relative" not in said and str(Path.cwd() / "imgs" / "missing.png") in said


# -- what a person reads -------------------------------------------------------------------------------------------


def test_log_lines_reach_the_terminal_only_with_verbose_and_always_the_log_file(home: Path, tmp_path: Path, cli_logging: None,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    (tmp_path / "notes.png").write_text("not an image")  # refused after the server (and its sandbox) started
    args = ["generate", "pika_v2_turbo_image_to_video", "--prompt", "x", "--image_url", str(tmp_path / "notes.png")]
    assert main(args) == 2
    quiet = capsys.readouterr().err
    assert main([*args, "-v"]) == 2
    verbose = capsys.readouterr().err
    assert "not an image" in quiet and "embedded sandbox at" not in quiet and " INFO " not in quiet
    assert "embedded sandbox at" in verbose
    assert (home / "logs" / "pika-mcp.log").read_text().count("embedded sandbox at") == 2


@pytest.mark.skipif(os.name == "nt", reason="a pseudo-terminal is POSIX")
@pytest.mark.anyio
async def test_bare_pika_mcp_in_a_terminal_says_it_speaks_mcp_and_how_to_try_it(tmp_path: Path) -> None:
    import pty

    controller, terminal = pty.openpty()
    env = {"PATH": os.environ.get("PATH", ""), "PIKA_MCP_BACKEND": "sandbox", "PIKA_MCP_HOME": str(tmp_path / "home"),
           "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "videos")}  # fmt: skip
    said = b""
    try:
        process = await anyio.open_process([sys.executable, "-m", "pika_mcp"], stdin=terminal, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE, env=env)  # fmt: skip
        async with process:
            assert process.stderr is not None
            try:
                with anyio.fail_after(60):
                    async for chunk in process.stderr:
                        said += chunk
                        if b"pika-mcp generate" in said:
                            break
            finally:
                process.terminate()  # it serves until stdin ends; a terminal never ends it
    finally:
        os.close(terminal)
        os.close(controller)
    assert b"MCP on stdin" in said and b"pika-mcp demo" in said


def test_serve_http_on_a_busy_port_says_it_is_taken_and_exits_nonzero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIKA_MCP_", "FAL_KEY"))}
    env |= {"PIKA_MCP_HOME": str(tmp_path / "home"), "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "videos")}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "pika_mcp", "serve", "--http", "--port", str(port)],
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0
    assert f"port {port} on 127.0.0.1 is taken" in done.stderr and "--port" in done.stderr
    assert "streamable HTTP at" not in done.stderr


def test_serve_and_sandbox_explain_host_and_port(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("serve", "sandbox"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "--host HOST  " in text.replace("\n", " ") or "--host HOST" in text
        for option in ("--host", "--port"):
            line = next(line for line in text.splitlines() if line.strip().startswith(option))
            assert "listen on" in line, line


@pytest.mark.anyio
async def test_jobs_show_no_cost_for_a_job_fal_refused_and_a_malformed_key_never_stops_generate(
    tmp_path: Path, fal: Fal, home: Path, monkeypatch: pytest.MonkeyPatch, cli_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from pika_mcp.sandbox import Fault

    monkeypatch.setenv("PIKA_MCP_BACKEND", "fal")
    monkeypatch.setenv("FAL_KEY", "pasted-a-key-without-its-secret")
    monkeypatch.setenv("PIKA_MCP_QUEUE_URL", fal.url)
    monkeypatch.setenv("PIKA_MCP_REST_URL", fal.url)
    made = ["generate", "pika_v2_turbo_text_to_video", "--prompt", "a paid one"]
    assert await anyio.to_thread.run_sync(main, made) == 0  # the sandbox takes any key: the server ran
    warned = capsys.readouterr().err
    assert "not of the form key_id:key_secret" in warned and "pasted-a-key" not in warned
    fal.sandbox.config.faults.append(Fault(op="submit", status=403, times=1))
    assert await anyio.to_thread.run_sync(main, ["generate", "pika_v2_turbo_text_to_video", "--prompt", "refused"]) == 2
    out = io.StringIO()
    assert jobs(Settings.from_env(os.environ), 20, None, out) == 0
    table = out.getvalue().splitlines()
    [paid] = [line for line in table if " succeeded " in line]
    [refused] = [line for line in table if " failed " in line]
    assert "$0.20" in paid and "$0.00" in refused and "$0.20" not in refused

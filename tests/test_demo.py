"""`pika-mcp demo`: a whole job with no account, through the official MCP client, ending in files a person can open."""

from __future__ import annotations

import io
from pathlib import Path

from pika_mcp.demo import run_demo
from pika_mcp.settings import Settings


def test_the_demo_makes_a_video_and_a_poster_and_prints_where_they_are(tmp_path: Path) -> None:
    settings = Settings.from_env({"PIKA_MCP_HOME": str(tmp_path / "home"), "PIKA_MCP_OUTPUT_DIR": str(tmp_path / "videos"),
                                  "FAL_KEY": "id:secret-the-demo-ignores"})  # fmt: skip
    out = io.StringIO()
    assert run_demo(settings, out) == 0, out.getvalue()
    said = out.getvalue()
    assert "sandbox" in said and "succeeded" in said
    video = Path(said.split("Video:", 1)[1].splitlines()[0].strip())
    assert video.is_file() and video.parent == settings.output_dir and video.stat().st_size > 0
    poster = Path(said.split("Poster:", 1)[1].splitlines()[0].strip())
    assert poster.is_file() and poster.read_bytes()[:2] == b"\xff\xd8"  # a JPEG

"""The fixed preview MP4 the sandbox serves when it cannot render one, and the script that made it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

PREVIEW_PATH = Path(__file__).parent / "assets" / "preview.mp4"
PREVIEW_TEXT = "pika-mcp sandbox preview"
# 720p at 24 fps for one second, like a short Pika clip; a still frame keeps the file tiny.
WIDTH, HEIGHT, FPS, FRAMES = 1280, 720, 24, 24


def copy_preview(endpoint_id: str, body: dict[str, object], out_path: Path, fetch: object = None) -> None:
    """Write the shipped preview MP4 to `out_path`; same signature as `render.render_video`."""
    shutil.copyfile(PREVIEW_PATH, out_path)


def write_preview(path: Path) -> None:
    """Encode the preview (needs the media extra); run once, the result is committed."""
    import av
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (WIDTH, HEIGHT), (24, 26, 38))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=64)
    left, top, right, bottom = draw.textbbox((0, 0), PREVIEW_TEXT, font=font)
    origin = ((WIDTH - (right - left)) // 2, (HEIGHT - (bottom - top)) // 2)
    draw.text(origin, PREVIEW_TEXT, fill=(236, 236, 244), font=font)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "30", "preset": "veryslow", "tune": "stillimage"}
        frame = av.VideoFrame.from_image(image)
        for index in range(FRAMES):
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else PREVIEW_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    write_preview(target)
    print(f"Wrote {target} ({target.stat().st_size} bytes).")

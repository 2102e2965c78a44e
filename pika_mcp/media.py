"""Facts about a finished video, read by decoding it: duration, size, frame rate, and a poster frame (media extra).

Imports without the extra; then `available()` is False, and `probe` and `poster` return None, as they do for
any file that is not a video. Neither ever raises on a bad file.

`python -m pika_mcp.media PATH MAX_POSTER_BYTES` prints both as JSON; `python -m pika_mcp.media --serve` answers
one request a line: the server measures each video in such a child process (see `measurer`), so that FFmpeg's
decoders (and their ~40 MB) never live in the long-running server, and a decoder that crashes or hangs on a hostile
file takes only the child with it.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

POSTER_SIZE = 640  # the long side: big enough to recognise the video, small enough to travel inside a tool result
POSTER_QUALITIES = (80, 65, 50, 35, 25)
POSTER_AT = 1 / 3  # of the duration: past any fade-in, before any ending
POSTER_MAX_DECODE = 96  # frames decoded past the seek point at most: 4 s at 24 fps bounds the cost on long keyframe gaps
# Demuxers that read a single still image; a picture is not a video even when PyAV can open it.
STILL_FORMATS = frozenset({"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe", "avif_pipe"})


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int
    height: int
    fps: float


def available() -> bool:
    """True when the media extra (PyAV and Pillow) is installed."""
    try:
        import av  # noqa: F401
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True


def probe(path: Path) -> VideoInfo | None:
    """Duration, size and frame rate of a video; None without the media extra or for a file that is not one."""
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            if container.format.name in STILL_FORMATS:
                return None
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate or Fraction(0)
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = float(stream.frames / rate) if rate else 0.0
    except Exception as exc:  # PyAV raises many kinds on hostile input; a file we cannot read is simply not a video
        log.info("Cannot probe %s: %s", path, exc)
        return None
    if not width or not height:
        return None
    return VideoInfo(duration_s=round(duration, 3), width=width, height=height, fps=round(float(rate), 3))


def poster(path: Path, max_bytes: int = 65_536) -> bytes | None:
    """A JPEG of the frame a third of the way in, at most POSTER_SIZE on its long side, shrunk until it fits in `max_bytes`."""
    try:
        import av  # noqa: F401
        from PIL import Image
    except ImportError:
        return None
    try:
        image = _frame_at(path, POSTER_AT)
    except Exception as exc:  # as in probe: not a video we can read
        log.info("Cannot make a poster of %s: %s", path, exc)
        return None
    if image is None:
        return None
    side = min(POSTER_SIZE, max(image.size))
    while side >= 80:
        scaled = image.copy()
        scaled.thumbnail((side, side), Image.Resampling.LANCZOS)
        for quality in POSTER_QUALITIES:
            out = io.BytesIO()
            scaled.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= max_bytes:
                return out.getvalue()
        side //= 2
    return None


def _frame_at(path: Path, share: float) -> Image.Image | None:
    """The RGB image of the first frame at or after `share` of the duration (or the last one before the end)."""
    import av

    with av.open(str(path)) as container:
        if container.format.name in STILL_FORMATS:
            return None
        stream = container.streams.video[0]
        stream.thread_type = "NONE"  # one decoder thread: a poster is one frame, memory matters more
        target = None
        if stream.duration and stream.time_base:
            target = int(stream.duration * share) + (stream.start_time or 0)
            container.seek(target, stream=stream)  # lands on the keyframe at or before the target
        chosen = None
        for decoded, frame in enumerate(container.decode(stream)):
            chosen = frame
            if target is None or frame.pts is None or frame.pts >= target or decoded >= POSTER_MAX_DECODE:
                break
        return chosen.to_image().convert("RGB") if chosen is not None else None


def facts(path: Path, max_poster_bytes: int) -> dict[str, object]:
    """The facts and poster of one video as JSON-ready data: what `python -m pika_mcp.media` prints (see measurer)."""
    info = probe(path)
    jpeg = poster(path, max_poster_bytes)
    return {"info": asdict(info) if info else None, "poster": base64.b64encode(jpeg).decode() if jpeg else None}


def serve(requests: Iterable[str], answers: TextIO) -> None:
    """One `[path, max_poster_bytes]` JSON request a line, one answer a line: the long-lived child of `measurer`."""
    for line in requests:
        try:
            path, max_poster_bytes = json.loads(line)
            answer = facts(Path(path), int(max_poster_bytes))
        except Exception as exc:  # an answer for every request, whatever the request
            answer = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve(sys.stdin, sys.stdout)
    else:
        sys.stdout.write(json.dumps(facts(Path(sys.argv[1]), int(sys.argv[2]))))

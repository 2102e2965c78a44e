"""Facts about a finished video, read by decoding it: duration, size, frame rate, and a poster frame (media extra)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

log = logging.getLogger(__name__)

POSTER_WIDTH = 640  # wide enough to recognise the video, small enough to travel inside a tool result
POSTER_QUALITIES = (80, 65, 50, 35, 25)


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
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(0)
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            else:
                duration = float(stream.frames / rate) if rate else 0.0
            return VideoInfo(duration_s=duration, width=stream.codec_context.width, height=stream.codec_context.height, fps=float(rate))
    except (av.FFmpegError, IndexError, ValueError, OSError) as exc:
        log.info("cannot probe %s: %s", path, exc)
        return None


def poster(path: Path, max_bytes: int = 65_536) -> bytes | None:
    """A JPEG of a frame about a third of the way in, scaled down until it fits in `max_bytes`."""
    try:
        import av
        from PIL import Image
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"  # one decoder thread: a poster is one frame, memory matters more
            if stream.duration and stream.time_base:
                container.seek(int(stream.duration / 3), stream=stream)  # lands on the keyframe before a third
            image = None
            for frame in container.decode(stream):
                image = frame.to_image()  # the first frame after the seek is enough
                break
    except (av.FFmpegError, IndexError, ValueError, OSError) as exc:
        log.info("cannot make a poster of %s: %s", path, exc)
        return None
    if image is None:
        return None
    width = POSTER_WIDTH
    while width >= 80:
        scaled = image.copy()
        scaled.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
        for quality in POSTER_QUALITIES:
            out = io.BytesIO()
            scaled.convert("RGB").save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= max_bytes:
                return out.getvalue()
        width //= 2
    return None

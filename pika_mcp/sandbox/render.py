"""The sandbox's renderer: a real H.264 preview MP4 from a request (size, length, inputs, caption); not Pika's model.

Needs the media extra: importing this module raises ImportError without PyAV and Pillow, and the sandbox
then serves its fixed preview MP4 instead (see `video.default_renderer`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
from PIL import Image

from pika_mcp.sandbox.render_caption import Overlay, overlay
from pika_mcp.sandbox.render_effects import pikaffect
from pika_mcp.sandbox.render_scenes import Frames, collage_pan, crossfade, drifting_shapes, edit, fit, ken_burns, placeholder

Fetch = Callable[[str], "bytes | None"]

FPS = 24
RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5), "5:4": (5, 4), "3:2": (3, 2), "2:3": (2, 3)}
SHORT_SIDE = {"720p": 720, "1080p": 1080}
DEFAULT_SECONDS = 5  # fal's default duration, and the length of every fixed-length endpoint (swaps, additions, pikaffects)
MAX_SECONDS = 25  # pikaframes' documented cap; v2.1's free-form `duration` is held to it so a typo cannot render for minutes
# Input images kept at once (Pikascenes' cap; Pikaframes takes 5): each is up to 2048 px a side, ~12 MB decoded, so a
# request past the wire rules still renders from its first ten, never from all of them.
MAX_INPUT_IMAGES = 10
MAX_INPUT_SIDE = 2048
MAX_INPUT_FRAMES = 48  # frames kept from an input video (swaps, additions), played back and forth: 2 s of 720p is ~130 MB
# Speed over size: a 5 s preview must render in a few seconds on two cores, so x264's fast presets, the
# fastest above 720p; a keyframe every 2 s keeps seeking (posters) cheap.
X264_OPTIONS = {"preset": "veryfast", "crf": "26"}
X264_OPTIONS_LARGE = {"preset": "superfast", "crf": "26"}
LARGE_PIXELS = 1280 * 720
GOP_FRAMES = 2 * FPS


def render_video(endpoint_id: str, body: dict[str, Any], out_path: Path, fetch: Fetch) -> None:
    """Write the preview of one request to `out_path`: deterministic for a given body, placeholders for unreadable inputs."""
    kind = endpoint_id.rsplit("/", 1)[-1]
    rng = random.Random(_seed(body))
    images = [_image(fetch, url) for url in _image_urls(body)]
    clip_data = _fetch(fetch, body["video_url"]) if isinstance(body.get("video_url"), str) else None
    width, height = _size(body, kind, _aspect(kind, images, clip_data))
    count = _seconds(body, kind) * FPS
    frames = _scene(kind, body, images, clip_data, width, height, rng)
    caption = str(body.get("prompt") or body.get("pikaffect") or body.get("modify_region") or "")
    _encode(out_path, width, height, count, frames, overlay(width, height, caption))


def _seed(body: dict[str, Any]) -> int:
    if isinstance(body.get("seed"), int):
        return int(body["seed"])
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _image_urls(body: dict[str, Any]) -> list[str]:
    urls = body.get("image_urls") or ([body["image_url"]] if isinstance(body.get("image_url"), str) else [])
    return [u for u in urls if isinstance(u, str)][:MAX_INPUT_IMAGES] if isinstance(urls, list) else []


def _fetch(fetch: Fetch, url: str) -> bytes | None:
    try:
        return fetch(url) or None
    except Exception:  # a fetch that fails is an input that is not available offline, never a crash
        return None


def _image(fetch: Fetch, url: str) -> Image.Image | None:
    data = _fetch(fetch, url)
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (MAX_INPUT_SIDE, MAX_INPUT_SIDE))  # JPEGs decode straight at a reduced size
            image.thumbnail((MAX_INPUT_SIDE, MAX_INPUT_SIDE))
            return image.convert("RGB")
    except Exception:  # not an image Pillow can read: placeholder
        return None


def _video_size(data: bytes | None) -> tuple[int, int] | None:
    if data is None:
        return None
    try:
        with av.open(io.BytesIO(data)) as container:
            context = container.streams.video[0].codec_context
            return (context.width, context.height) if context.width and context.height else None
    except Exception:  # not a video PyAV can read: placeholder
        return None


def _video_frames(data: bytes | None, w: int, h: int) -> list[Image.Image]:
    if data is None:
        return []
    frames: list[Image.Image] = []
    try:
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(video=0):
                frames.append(fit(frame.to_image(), w, h))
                if len(frames) >= MAX_INPUT_FRAMES:
                    break
    except Exception:  # a video that breaks off midway keeps the frames read so far
        pass
    return frames


def _aspect(kind: str, images: list[Image.Image | None], clip_data: bytes | None) -> float | None:
    """The input's width / height, for endpoints whose output takes the shape of their input."""
    if kind in ("pikaswaps", "pikadditions"):
        size = _video_size(clip_data)
        return size[0] / size[1] if size else None
    first = next((i for i in images if i is not None), None)
    return first.width / first.height if first is not None else None


def _size(body: dict[str, Any], kind: str, input_aspect: float | None) -> tuple[int, int]:
    default = "1080p" if kind == "pikascenes" else "720p"
    short = SHORT_SIDE.get(str(body.get("resolution", default)), 720)
    if kind in ("text-to-video", "pikascenes"):
        w, h = RATIOS.get(str(body.get("aspect_ratio", "16:9")), (16, 9))
    elif input_aspect is not None:  # image and video edits keep the shape of their input, rounded to a Pika ratio
        w, h = min(RATIOS.values(), key=lambda r: abs(math.log(input_aspect * r[1] / r[0])))
    else:
        w, h = (16, 9) if kind in ("pikaswaps", "pikadditions") else (1, 1)
    if w >= h:
        return _even(short * w / h), short
    return short, _even(short * h / w)


def _even(value: float) -> int:
    return int(round(value / 2)) * 2


def _seconds(body: dict[str, Any], kind: str) -> int:
    if kind in ("pikaswaps", "pikadditions", "pikaffects"):
        return DEFAULT_SECONDS
    if kind == "pikaframes":
        transitions = body.get("transitions") or [{}] * max(1, len(body.get("image_urls") or []) - 1)
        seconds = sum(_int(t.get("duration"), DEFAULT_SECONDS) for t in transitions if isinstance(t, dict))
    else:
        seconds = _int(body.get("duration"), DEFAULT_SECONDS)
    return max(1, min(MAX_SECONDS, seconds))


def _int(value: object, default: int) -> int:
    try:
        return int(value) if value is not None else default  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def _scene(kind: str, body: dict[str, Any], images: list[Image.Image | None], clip_data: bytes | None,
           w: int, h: int, rng: random.Random) -> Frames:  # fmt: skip
    first = images[0] if images else None
    if kind == "pikascenes":
        return collage_pan(images, w, h, rng)
    if kind == "pikaframes":
        durations = [_int(t.get("duration"), DEFAULT_SECONDS) * FPS for t in body.get("transitions") or [] if isinstance(t, dict)]
        return crossfade([fit(i, w, h) if i else placeholder(w, h, rng, "keyframe") for i in images], durations, w, h, rng)
    if kind == "pikaffects":
        return pikaffect(str(body.get("pikaffect", "")), first or placeholder(w, h, rng, "image"), w, h, rng)
    if kind in ("pikaswaps", "pikadditions"):
        clip = _video_frames(clip_data, w, h) or [placeholder(w, h, rng, "video")]
        return edit(kind == "pikaswaps", clip, first, w, h, rng)
    if kind == "image-to-video":
        return ken_burns(first or placeholder(w, h, rng, "image"), w, h, rng)
    return drifting_shapes(w, h, rng)


def _encode(path: Path, w: int, h: int, count: int, frames: Frames, layers: list[Overlay]) -> None:
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS, options=X264_OPTIONS if w * h <= LARGE_PIXELS else X264_OPTIONS_LARGE)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = GOP_FRAMES
        for index in range(count):
            image = frames(index, count)  # always a fresh image: the overlay is pasted onto it
            for layer in layers:
                image.paste(layer.image, layer.position, layer.mask)
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))

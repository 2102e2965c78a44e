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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    """Write the preview of one request to `out_path`: deterministic for a given body, placeholders for unreadable inputs.

    An endpoint without a row in LOOKS is refused (KeyError): it gets no borrowed animation by accident."""
    look = LOOKS[endpoint_id]
    rng = random.Random(_seed(body))
    images = [_image(fetch, url) for url in _image_urls(body)] if {"image_url", "image_urls"} & set(look.inputs) else []
    clip_data = (
        _fetch(fetch, body["video_url"]) if "video_url" in look.inputs and isinstance(body.get("video_url"), str) else None
    )
    given = Given(body, images, clip_data)
    width, height = _size(body, look, _aspect(look, images, clip_data))
    count = look.seconds(body) * FPS
    frames = look.scene(given, width, height, rng)
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
        with av.open(io.BytesIO(data), mode="r") as container:
            for frame in container.decode(video=0):
                frames.append(fit(frame.to_image(), w, h))
                if len(frames) >= MAX_INPUT_FRAMES:
                    break
    except Exception:  # a video that breaks off midway keeps the frames read so far
        pass
    return frames


def _aspect(look: Look, images: list[Image.Image | None], clip_data: bytes | None) -> float | None:
    """The input's width / height, for endpoints whose output takes the shape of their input."""
    if look.shape == "video":
        size = _video_size(clip_data)
        return size[0] / size[1] if size else None
    first = next((i for i in images if i is not None), None)
    return first.width / first.height if first is not None else None


def _size(body: dict[str, Any], look: Look, input_aspect: float | None) -> tuple[int, int]:
    short = SHORT_SIDE.get(str(body.get("resolution", look.resolution)), 720)
    if look.shape == "aspect_ratio":
        w, h = RATIOS.get(str(body.get("aspect_ratio", "16:9")), (16, 9))
    elif input_aspect is not None:  # image and video edits keep the shape of their input, rounded to a Pika ratio
        w, h = min(RATIOS.values(), key=lambda r: abs(math.log(input_aspect * r[1] / r[0])))
    else:
        w, h = SHAPE_WITHOUT_INPUT[look.shape]
    if w >= h:
        return _even(short * w / h), short
    return short, _even(short * h / w)


def _even(value: float) -> int:
    return int(round(value / 2)) * 2


def _int(value: object, default: int) -> int:
    try:
        return int(value) if value is not None else default  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


# -- durations: how long each kind of endpoint's video is ------------------------------------------


def fixed_length(body: dict[str, Any]) -> int:
    return DEFAULT_SECONDS


def from_duration(body: dict[str, Any]) -> int:
    return max(1, min(MAX_SECONDS, _int(body.get("duration"), DEFAULT_SECONDS)))


def from_transitions(body: dict[str, Any]) -> int:
    transitions = body.get("transitions") or [{}] * max(1, len(body.get("image_urls") or []) - 1)
    return max(1, min(MAX_SECONDS, sum(_int(t.get("duration"), DEFAULT_SECONDS) for t in transitions if isinstance(t, dict))))


# -- scenes: what moves in each kind of endpoint's preview ------------------------------------------


@dataclass(frozen=True)
class Given:
    """What a request gave a scene: its body, its images (None where unreadable) and its input video's bytes."""

    body: dict[str, Any]
    images: list[Image.Image | None]
    clip_data: bytes | None

    @property
    def first(self) -> Image.Image | None:
        return self.images[0] if self.images else None


Scene = Callable[[Given, int, int, random.Random], Frames]


def shapes(given: Given, w: int, h: int, rng: random.Random) -> Frames:
    return drifting_shapes(w, h, rng)


def animated_image(given: Given, w: int, h: int, rng: random.Random) -> Frames:
    return ken_burns(given.first or placeholder(w, h, rng, "image"), w, h, rng)


def collage(given: Given, w: int, h: int, rng: random.Random) -> Frames:
    return collage_pan(given.images, w, h, rng)


def keyframes(given: Given, w: int, h: int, rng: random.Random) -> Frames:
    transitions = given.body.get("transitions") or []
    durations = [_int(t.get("duration"), DEFAULT_SECONDS) * FPS for t in transitions if isinstance(t, dict)]
    return crossfade([fit(i, w, h) if i else placeholder(w, h, rng, "keyframe") for i in given.images], durations, w, h, rng)


def effect(given: Given, w: int, h: int, rng: random.Random) -> Frames:
    return pikaffect(str(given.body.get("pikaffect", "")), given.first or placeholder(w, h, rng, "image"), w, h, rng)


def video_edit(swap: bool) -> Scene:
    def scene(given: Given, w: int, h: int, rng: random.Random) -> Frames:
        clip = _video_frames(given.clip_data, w, h) or [placeholder(w, h, rng, "video")]
        return edit(swap, clip, given.first, w, h, rng)

    return scene


# -- the table: one row per endpoint --------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """How the preview of one endpoint is made."""

    seconds: Callable[[dict[str, Any]], int]  # the duration rule
    shape: Literal["aspect_ratio", "image", "video"]  # the frame's shape: the body's aspect_ratio, or its input's
    scene: Scene
    inputs: tuple[str, ...] = ()  # the body's media fields fetched and handed to the scene
    resolution: str = "720p"  # when the body names none


SHAPE_WITHOUT_INPUT = {"image": (1, 1), "video": (16, 9)}  # an input that could not be read
TEXT = Look(from_duration, "aspect_ratio", shapes)
IMAGE = Look(from_duration, "image", animated_image, inputs=("image_url",))
LOOKS: dict[str, Look] = {
    "fal-ai/pika/v2.2/text-to-video": TEXT,
    "fal-ai/pika/v2.2/image-to-video": IMAGE,
    "fal-ai/pika/v2.2/pikascenes": Look(from_duration, "aspect_ratio", collage, inputs=("image_urls",), resolution="1080p"),
    "fal-ai/pika/v2.2/pikaframes": Look(from_transitions, "image", keyframes, inputs=("image_urls",)),
    "fal-ai/pika/v2.1/text-to-video": TEXT,
    "fal-ai/pika/v2.1/image-to-video": IMAGE,
    "fal-ai/pika/v2/turbo/text-to-video": TEXT,
    "fal-ai/pika/v2/turbo/image-to-video": IMAGE,
    "fal-ai/pika/v2/pikaswaps": Look(fixed_length, "video", video_edit(swap=True), inputs=("video_url", "image_url")),
    "fal-ai/pika/v2/pikadditions": Look(fixed_length, "video", video_edit(swap=False), inputs=("video_url", "image_url")),
    "fal-ai/pika/v1.5/pikaffects": Look(fixed_length, "image", effect, inputs=("image_url",)),
}


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

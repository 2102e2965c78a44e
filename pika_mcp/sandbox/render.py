"""The sandbox's renderer: a real H.264 preview MP4 from a request (size, length, inputs, caption); not Pika's model."""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

Fetch = Callable[[str], "bytes | None"]
Frames = Callable[[int, int], Image.Image]  # (index, count) -> frame

FPS = 24
RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5), "5:4": (5, 4), "3:2": (3, 2), "2:3": (2, 3)}
SHORT_SIDE = {"720p": 720, "1080p": 1080}
LABEL = "PREVIEW · pika-mcp sandbox · not Pika's model"
MAX_INPUT_FRAMES = 48  # frames kept from an input video (swaps, additions), looped
# Speed over size: a 5 s 720p preview must encode in about a second on two cores.
X264_OPTIONS = {"preset": "veryfast", "tune": "stillimage", "crf": "26"}


def render_video(endpoint_id: str, body: dict[str, Any], out_path: Path, fetch: Fetch) -> None:
    """Write the preview of one request to `out_path`."""
    kind = endpoint_id.rsplit("/", 1)[-1]
    rng = random.Random(_seed(body))
    images = [_image(fetch, url) for url in _image_urls(body)]
    width, height = _size(body, kind, images)
    seconds = _seconds(body, kind)
    count = seconds * FPS
    frames = _scene(kind, body, images, width, height, rng, fetch)
    overlay = _overlay(width, height, str(body.get("prompt") or body.get("pikaffect") or body.get("modify_region") or ""))
    _encode(out_path, width, height, (frames(i, count) for i in range(count)), overlay)


def _seed(body: dict[str, Any]) -> int:
    if isinstance(body.get("seed"), int):
        return int(body["seed"])
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _image_urls(body: dict[str, Any]) -> list[str]:
    urls = body.get("image_urls") or ([body["image_url"]] if isinstance(body.get("image_url"), str) else [])
    return [u for u in urls if isinstance(u, str)]


def _image(fetch: Fetch, url: str) -> Image.Image | None:
    try:
        data = fetch(url)
        if not data:
            return None
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except Exception:  # an input that cannot be read gets a placeholder, never a crash
        return None


def _size(body: dict[str, Any], kind: str, images: list[Image.Image | None]) -> tuple[int, int]:
    default = "1080p" if kind == "pikascenes" else "720p"
    short = SHORT_SIDE.get(str(body.get("resolution", default)), 720)
    default_ratio = "16:9" if kind in ("text-to-video", "pikascenes", "pikaswaps", "pikadditions") else None
    ratio = RATIOS.get(str(body.get("aspect_ratio", default_ratio)))
    if ratio is None:  # image-led endpoints take the shape of their first image
        first = next((i for i in images if i is not None), None)
        aspect = first.width / first.height if first is not None else 1.0
        ratio = min(RATIOS.values(), key=lambda r: abs(math.log(aspect * r[1] / r[0])))
    w, h = ratio
    if w >= h:
        return _even(short * w / h), short
    return short, _even(short * h / w)


def _even(value: float) -> int:
    return int(round(value / 2)) * 2


def _seconds(body: dict[str, Any], kind: str) -> int:
    if kind == "pikaframes":
        transitions = body.get("transitions")
        if transitions:
            return sum(int(t.get("duration", 5)) for t in transitions)
        return 5 * max(1, len(body.get("image_urls") or []) - 1)
    return int(body.get("duration", 5))


def _placeholder(width: int, height: int, rng: random.Random, text: str = "input not available offline") -> Image.Image:
    image = _gradient(width, height, rng)
    draw = ImageDraw.Draw(image)
    font = _font(max(16, height // 24))
    draw.text((width // 2, height // 2), text, fill=(255, 255, 255), font=font, anchor="mm")
    return image


def _gradient(width: int, height: int, rng: random.Random) -> Image.Image:
    top = tuple(rng.randrange(30, 200) for _ in range(3))
    bottom = tuple(rng.randrange(30, 200) for _ in range(3))
    column = Image.new("RGB", (1, 256))
    column.putdata([tuple(int(t + (b - t) * y / 255) for t, b in zip(top, bottom, strict=True)) for y in range(256)])
    return column.resize((width, height), Image.Resampling.BILINEAR)


def _fit(image: Image.Image | None, width: int, height: int, rng: random.Random) -> Image.Image:
    if image is None:
        return _placeholder(width, height, rng)
    return ImageOps.fit(image, (width, height), Image.Resampling.BILINEAR)


def _scene(kind: str, body: dict[str, Any], images: list[Image.Image | None], w: int, h: int, rng: random.Random, fetch: Fetch) -> Frames:
    if kind == "pikascenes":
        return _pan(_collage(images, w, h, rng), w, h)
    if kind == "pikaframes":
        return _crossfade([_fit(i, w, h, rng) for i in images] or [_placeholder(w, h, rng)], body)
    if kind == "pikaffects":
        return _effect(_fit(images[0] if images else None, w, h, rng), str(body.get("pikaffect", "")))
    if kind in ("pikaswaps", "pikadditions"):
        clip = _video_frames(fetch, str(body.get("video_url", "")), w, h) or [_placeholder(w, h, rng, "input video not available offline")]
        return _edit(kind, clip, images[0] if images else None, w, h, rng)
    if kind == "image-to-video":
        return _ken_burns(_fit(images[0] if images else None, int(w * 1.15), int(h * 1.15), rng), w, h)
    return _pan(_landscape(int(w * 1.3), h, rng), w, h)


def _landscape(width: int, height: int, rng: random.Random) -> Image.Image:
    """A seeded abstract scene for text-to-video: a gradient sky and soft shapes."""
    image = _gradient(width, height, rng)
    draw = ImageDraw.Draw(image)
    for _ in range(9):
        r = rng.randrange(height // 12, height // 4)
        x, y = rng.randrange(width), rng.randrange(height)
        color = tuple(rng.randrange(60, 255) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
    return image.filter(ImageFilter.GaussianBlur(radius=max(2, height // 90)))


def _collage(images: list[Image.Image | None], w: int, h: int, rng: random.Random) -> Image.Image:
    tiles = [_fit(i, max(2, w // 2), h, rng) for i in images] or [_placeholder(w, h, rng)]
    canvas = Image.new("RGB", (max(int(w * 1.3), sum(t.width for t in tiles)), h))
    x = 0
    for tile in tiles:
        canvas.paste(tile, (x, 0))
        x += tile.width
    return canvas


def _pan(canvas: Image.Image, w: int, h: int) -> Frames:
    span = canvas.width - w

    def frame(i: int, count: int) -> Image.Image:
        x = int(span * i / max(1, count - 1))
        return canvas.crop((x, 0, x + w, h))

    return frame


def _ken_burns(canvas: Image.Image, w: int, h: int) -> Frames:
    def frame(i: int, count: int) -> Image.Image:
        t = i / max(1, count - 1)
        zoom = 1.0 + 0.12 * t
        cw, ch = canvas.width / zoom, canvas.height / zoom
        left, top = (canvas.width - cw) * (0.5 + 0.2 * t), (canvas.height - ch) / 2
        return canvas.resize((w, h), Image.Resampling.BILINEAR, box=(left, top, left + cw, top + ch))

    return frame


def _crossfade(keys: list[Image.Image], body: dict[str, Any]) -> Frames:
    transitions = body.get("transitions") or [{"duration": 5}] * max(1, len(keys) - 1)
    bounds = [0]
    for t in transitions:
        bounds.append(bounds[-1] + int(t.get("duration", 5)) * FPS)

    def frame(i: int, count: int) -> Image.Image:
        segment = next((n for n in range(len(bounds) - 1) if i < bounds[n + 1]), len(bounds) - 2)
        a, b = keys[min(segment, len(keys) - 1)], keys[min(segment + 1, len(keys) - 1)]
        t = (i - bounds[segment]) / max(1, bounds[segment + 1] - bounds[segment] - 1)
        return Image.blend(a, b, min(1.0, max(0.0, t)))

    return frame


def _effect(image: Image.Image, name: str) -> Frames:
    w, h = image.size
    background = image.filter(ImageFilter.GaussianBlur(radius=max(4, h // 40))).point(lambda v: v // 2)

    def frame(i: int, count: int) -> Image.Image:
        t = i / max(1, count - 1)
        if name in ("Inflate", "Ta-da"):
            sx = sy = 1.0 + 0.35 * t
        elif name in ("Deflate", "Crush", "Crumble", "Dissolve", "Explode", "Tear", "Peel", "Decapitate"):
            sx = sy = max(0.05, 1.0 - 0.9 * t)
        elif name in ("Squish", "Poke"):
            sx, sy = 1.0 + 0.3 * t, max(0.2, 1.0 - 0.6 * t)
        elif name == "Melt":
            sx, sy = 1.0 + 0.1 * t, 1.0 + 0.6 * t
        else:  # Levitate, Eye-pop, Cake-ify and the rest: a gentle wobble
            sx = sy = 1.0 + 0.05 * math.sin(t * 6 * math.pi)
        size = (max(2, int(w * sx)), max(2, int(h * sy)))
        subject = image.resize(size, Image.Resampling.BILINEAR)
        out = background.copy()
        lift = int(h * 0.25 * t) if name == "Levitate" else 0
        top = h - size[1] if name == "Melt" else (h - size[1]) // 2 - lift
        out.paste(subject, ((w - size[0]) // 2, top))
        return out

    return frame


def _video_frames(fetch: Fetch, url: str, w: int, h: int) -> list[Image.Image]:
    try:
        data = fetch(url) if url else None
        if not data:
            return []
        frames = []
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(video=0):
                frames.append(ImageOps.fit(frame.to_image(), (w, h), Image.Resampling.BILINEAR))
                if len(frames) >= MAX_INPUT_FRAMES:
                    break
        return frames
    except Exception:  # not a video we can decode offline: placeholder
        return []


def _edit(kind: str, clip: list[Image.Image], image: Image.Image | None, w: int, h: int, rng: random.Random) -> Frames:
    box = (w // 3, h // 3, 2 * w // 3, 2 * h // 3)
    patch = ImageOps.fit(image, (box[2] - box[0], box[3] - box[1])) if image is not None else None
    tint = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), tuple(rng.randrange(80, 255) for _ in range(3)))

    def frame(i: int, count: int) -> Image.Image:
        cycle = len(clip) * 2 - 2 if len(clip) > 1 else 1
        k = i % cycle
        out = clip[k if k < len(clip) else cycle - k].copy()
        if kind == "pikaswaps":
            out.paste(patch if patch is not None else Image.blend(out.crop(box), tint, 0.6), box[:2])
        elif patch is not None:
            t = i / max(1, count - 1)
            out.paste(patch, (int(box[0] * (0.4 + 0.6 * t)), box[1]))
        return out

    return frame


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType
        return ImageFont.load_default()


def _overlay(w: int, h: int, caption: str) -> list[tuple[Image.Image, Image.Image, tuple[int, int]]]:
    """The caption band and the preview label, drawn once: (RGB, mask, position) each."""
    size = max(14, h // 30)
    font = _font(size)
    band = Image.new("RGBA", (w, size * 2), (0, 0, 0, 150))
    text = caption if len(caption) <= 90 else caption[:87] + "..."
    ImageDraw.Draw(band).text((size, size // 2), text, fill=(255, 255, 255, 255), font=font)
    label = Image.new("RGBA", (min(w, int(font.getlength(LABEL)) + size * 2), size * 2), (0, 0, 0, 150))
    ImageDraw.Draw(label).text((size, size // 2), LABEL, fill=(255, 230, 90, 255), font=font)
    return [(band.convert("RGB"), band.getchannel("A"), (0, h - band.height)), (label.convert("RGB"), label.getchannel("A"), (0, 0))]


def _encode(path: Path, w: int, h: int, frames: Iterator[Image.Image], overlay: list[tuple[Image.Image, Image.Image, tuple[int, int]]]) -> None:
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS, options=X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for image in frames:
            for layer, mask, where in overlay:
                image.paste(layer, where, mask)
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

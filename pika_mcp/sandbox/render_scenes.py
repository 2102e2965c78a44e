"""The preview's moving pictures, one per kind of endpoint: base images are built once, each frame is a cheap crop, blend or paste."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter, ImageOps

from pika_mcp.sandbox.render_caption import font_of

Frames = Callable[[int, int], Image.Image]  # (index, count) -> a new frame the caller may draw on
Color = tuple[int, int, int]
# How far a Gaussian blur reaches, in blur radii: past 3 its tail is under 1% of the light, below a level's rounding.
BLUR_REACH = 3


def progress(i: int, count: int) -> float:
    return i / max(1, count - 1)


def smooth(t: float) -> float:
    t = min(1.0, max(0.0, t))
    return t * t * (3 - 2 * t)


def color(rng: random.Random, low: int = 30, high: int = 220) -> Color:
    return rng.randrange(low, high), rng.randrange(low, high), rng.randrange(low, high)


def gradient(w: int, h: int, top: Color, bottom: Color) -> Image.Image:
    column = Image.new("RGB", (1, 256))
    column.putdata([tuple(int(a + (b - a) * y / 255) for a, b in zip(top, bottom, strict=True)) for y in range(256)])
    return column.resize((w, h), Image.Resampling.BILINEAR)


def fit(image: Image.Image, w: int, h: int) -> Image.Image:
    """`image` cropped to the w:h shape and scaled to fill it."""
    return ImageOps.fit(image, (w, h), Image.Resampling.BILINEAR)


def placeholder(w: int, h: int, rng: random.Random, what: str) -> Image.Image:
    """What stands in for an input that could not be fetched or decoded offline."""
    image = gradient(w, h, color(rng, 40, 120), color(rng, 40, 120))
    draw = ImageDraw.Draw(image)
    inset = min(w, h) // 8
    draw.rectangle((inset, inset, w - inset, h - inset), outline=(235, 235, 245), width=max(2, min(w, h) // 180))
    font = font_of(max(16, min(w, h) // 18))
    text = f"{what} not available offline"
    draw.text(((w - font.getlength(text)) / 2, h / 2 - min(w, h) // 36), text, fill=(235, 235, 245), font=font)
    return image


def soft_light(r: int, level: int) -> Image.Image:
    """The mask of a soft light: a disc of radius `r` at `level`, blurred, with room around it for the blur to fade to 0.

    A blur kept inside the disc's own box is cut at the box's edges, and the light shows as a hard-edged square."""
    blur = max(1, r // 5)
    margin = BLUR_REACH * blur
    mask = Image.new("L", (2 * (r + margin), 2 * (r + margin)), 0)
    ImageDraw.Draw(mask).ellipse((margin, margin, margin + 2 * r - 1, margin + 2 * r - 1), fill=level)
    return mask.filter(ImageFilter.GaussianBlur(radius=blur))


def drifting_shapes(w: int, h: int, rng: random.Random) -> Frames:
    """Text-to-video: a sky whose colours shift behind hills that scroll, soft lights drifting in front, all from the seed."""
    ridge = Image.new("L", (w * 2, h), 0)
    draw = ImageDraw.Draw(ridge)
    x = -w // 4
    while x < w * 2:  # overlapping triangles, twice as wide as the frame, scrolled across it
        half = rng.randrange(w // 8, w // 3)
        draw.polygon([(x - half, h), (x, rng.randrange(h // 2, h * 5 // 6)), (x + half, h)], fill=255)
        x += half
    hill = Image.new("RGB", ridge.size, color(rng, 10, 90))
    # The two skies with the hills already on them: a frame is two crops and one blend.
    scenes = []
    for _ in range(2):
        scene = gradient(w * 2, h, color(rng), color(rng))
        scene.paste(hill, (0, 0), ridge)
        scenes.append(scene)
    lights = []
    for _ in range(8):
        r = rng.randrange(max(4, h // 14), max(5, h // 5))
        mask = soft_light(r, rng.randrange(110, 220))
        margin = (mask.width - 2 * r) // 2  # the blur's fade around the disc: the sprite is that much larger
        start = (rng.uniform(-r, w - r) - margin, rng.uniform(-r, h * 0.6) - margin)
        drift = (rng.uniform(-0.3, 0.3) * w, rng.uniform(-0.15, 0.15) * h)
        lights.append((Image.new("RGB", mask.size, color(rng, 120, 255)), mask, start, drift))

    def frame(i: int, count: int) -> Image.Image:
        t = progress(i, count)
        shift = int(w * 0.5 * t)
        box = (shift, 0, shift + w, h)
        out = Image.blend(scenes[0].crop(box), scenes[1].crop(box), t)
        for sprite, mask, (x0, y0), (dx, dy) in lights:
            out.paste(sprite, (int(x0 + dx * t), int(y0 + dy * t)), mask)
        return out

    return frame


def ken_burns(image: Image.Image, w: int, h: int, rng: random.Random) -> Frames:
    """Image-to-video: the whole image first, then a slow zoom towards a point chosen by the seed."""
    canvas = fit(image, int(w * 1.25) // 2 * 2, int(h * 1.25) // 2 * 2)
    cx, cy = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)

    def frame(i: int, count: int) -> Image.Image:
        t = smooth(progress(i, count))
        zoom = 1.0 + 0.25 * t
        cw, ch = canvas.width / zoom, canvas.height / zoom
        left, top = (canvas.width - cw) * (0.5 + (cx - 0.5) * t), (canvas.height - ch) * (0.5 + (cy - 0.5) * t)
        return canvas.resize((w, h), Image.Resampling.BILINEAR, box=(left, top, left + cw, top + ch))

    return frame


def collage_pan(images: list[Image.Image | None], w: int, h: int, rng: random.Random) -> Frames:
    """Pikascenes: every input side by side as framed tiles on a blurred backdrop, the camera panning across them."""
    n = max(1, len(images))
    gap = max(4, min(w, h) // 40)
    tile_w = min(w - 2 * gap, max(w // 2, int(w * 1.6 / n)))
    tile_h = h - 4 * gap
    tiles = [fit(i, tile_w, tile_h) if i else placeholder(tile_w, tile_h, rng, "image") for i in images] or [
        placeholder(tile_w, tile_h, rng, "image")
    ]
    canvas_w = max(int(w * 1.25), gap + n * (tile_w + gap))
    backdrop = fit(tiles[0], canvas_w, h).filter(ImageFilter.GaussianBlur(radius=max(4, h // 30))).point(lambda v: v * 6 // 10)
    x = max(gap, (canvas_w - n * (tile_w + gap) + gap) // 2)
    for tile in tiles:
        backdrop.paste(tile, (x, 2 * gap))
        x += tile_w + gap
    span = canvas_w - w

    def frame(i: int, count: int) -> Image.Image:
        left = int(span * smooth(progress(i, count)))
        return backdrop.crop((left, 0, left + w, h))

    return frame


def crossfade(keys: list[Image.Image], durations: list[int], w: int, h: int, rng: random.Random) -> Frames:
    """Pikaframes: from each keyframe to the next over its transition's frames, easing in and out, zooming gently."""
    keys = keys or [placeholder(w, h, rng, "keyframe")]
    if len(keys) == 1:
        keys = keys * 2
    if len(durations) != len(keys) - 1:
        durations = [max(1, sum(durations) // (len(keys) - 1)) if durations else 120] * (len(keys) - 1)
    starts = [sum(durations[:n]) for n in range(len(durations) + 1)]

    def frame(i: int, count: int) -> Image.Image:
        n = next((k for k in range(len(durations)) if i < starts[k + 1]), len(durations) - 1)
        t = smooth((i - starts[n]) / max(1, durations[n] - 1))
        blended = Image.blend(keys[n], keys[n + 1], t)
        zoom = 1.0 + 0.04 * math.sin(math.pi * t)  # a breath in the middle of each transition
        cw, ch = w / zoom, h / zoom
        return blended.resize((w, h), Image.Resampling.BILINEAR, box=((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2))

    return frame


def edit(swap: bool, clip: list[Image.Image], image: Image.Image | None, w: int, h: int, rng: random.Random) -> Frames:
    """Pikaswaps and pikadditions: the input clip played back and forth, a region swapped for the image or a tint, or the image added."""
    bw, bh = int(w * rng.uniform(0.28, 0.4)), int(h * rng.uniform(0.35, 0.5))
    bx, by = rng.randrange(w // 12, w - bw - w // 12), rng.randrange(h // 10, h - bh - h // 10)
    mask = Image.new("L", (bw, bh), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, bw - 1, bh - 1), radius=min(bw, bh) // 6, fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(radius=max(1, min(bw, bh) // 30)))
    patch = fit(image, bw, bh) if image is not None else None
    tint = Image.new("RGB", (bw, bh), color(rng, 90, 255))
    cycle = max(1, 2 * len(clip) - 2)

    def frame(i: int, count: int) -> Image.Image:
        k = i % cycle
        out = clip[k if k < len(clip) else cycle - k].copy()
        if swap:
            region = patch if patch is not None else Image.blend(out.crop((bx, by, bx + bw, by + bh)), tint, 0.55)
            out.paste(region, (bx, by), mask)
        elif patch is not None:  # the added image slides in from the right, then bobs where it landed
            t = progress(i, count)
            x = int(bx + (w - bx) * (1 - smooth(t / 0.4)))
            y = int(by + h * 0.01 * math.sin(t * 4 * math.pi))
            out.paste(patch, (x, y), mask)
        return out

    return frame

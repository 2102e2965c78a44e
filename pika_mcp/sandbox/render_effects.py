"""Pikaffects in the preview: the image as a card on a blurred stage, then squashed, melted, exploded, torn, lifted or wobbled by name."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from pika_mcp.sandbox.render_scenes import Frames, fit, progress, smooth

Curve = Callable[[float], float]
SUBJECT_SHARE = 0.62  # of the frame's width and height: room to inflate to 1.45 without leaving the frame


@dataclass(frozen=True)
class Stage:
    background: Image.Image
    subject: Image.Image  # RGBA
    x0: int  # where the subject rests
    y0: int

    def frame(self) -> Image.Image:
        return self.background.copy()

    def centre(self) -> tuple[float, float]:
        return self.x0 + self.subject.width / 2, self.y0 + self.subject.height / 2


def pikaffect(name: str, image: Image.Image, w: int, h: int, rng: random.Random) -> Frames:
    """The frames of effect `name` applied to `image`; names without a drawing of their own wobble."""
    backdrop = fit(image, w, h).filter(ImageFilter.GaussianBlur(radius=max(4, h // 36))).point(lambda v: v * 55 // 100)
    subject = ImageOps.contain(image, (int(w * SUBJECT_SHARE), int(h * SUBJECT_SHARE))).convert("RGBA")
    stage = Stage(backdrop, subject, (w - subject.width) // 2, int((h - subject.height) * 0.6))
    return EFFECTS.get(name, _moving(WOBBLE))(stage, rng)


def _paste(out: Image.Image, piece: Image.Image, cx: float, cy: float) -> None:
    out.paste(piece, (int(cx - piece.width / 2), int(cy - piece.height / 2)), piece)


@dataclass(frozen=True)
class Motion:
    sx: Curve
    sy: Curve
    lift: Curve = lambda t: 0.0  # in subject heights
    turn: Curve = lambda t: 0.0  # degrees, anticlockwise
    grounded: bool = True  # scaled about its bottom edge, like something standing on a floor


def _motion(stage: Stage, m: Motion) -> Frames:
    sw, sh = stage.subject.size
    cx, floor = stage.x0 + sw / 2, stage.y0 + sh
    shadow = Image.new("L", (sw, max(2, sh // 8)), 0)
    ImageDraw.Draw(shadow).ellipse((0, 0, shadow.width - 1, shadow.height - 1), fill=150)
    shadow = shadow.filter(ImageFilter.GaussianBlur(radius=max(1, shadow.height // 4)))

    def frame(i: int, count: int) -> Image.Image:
        t = progress(i, count)
        out = stage.frame()
        lift = m.lift(t) * sh
        width = max(2, int(shadow.width * m.sx(t) / (1 + lift / sh)))
        out.paste((0, 0, 0), (int(cx - width / 2), int(floor - shadow.height / 2)), shadow.resize((width, shadow.height)))
        piece = stage.subject.resize((max(2, int(sw * m.sx(t))), max(2, int(sh * m.sy(t)))), Image.Resampling.BILINEAR)
        if m.turn(t):
            piece = piece.rotate(m.turn(t), Image.Resampling.BILINEAR, expand=True)
        cy = floor - piece.height / 2 - lift if m.grounded else stage.centre()[1] - lift
        _paste(out, piece, cx, cy)
        return out

    return frame


def _pulse(t: float, at: float, width: float = 0.05) -> float:
    return math.exp(-(((t - at) / width) ** 2))


WOBBLE = Motion(sx=lambda t: 1 + 0.05 * math.sin(6 * math.pi * t), sy=lambda t: 1 - 0.05 * math.sin(6 * math.pi * t),
                turn=lambda t: 6 * math.sin(6 * math.pi * t))  # fmt: skip
MOTIONS = {
    "Inflate": Motion(sx=lambda t: 1 + 0.45 * smooth(t / 0.75) + 0.03 * t * math.sin(12 * math.pi * t), sy=lambda t: 1 + 0.45 * smooth(t / 0.75)),
    "Deflate": Motion(sx=lambda t: 1 + 0.15 * smooth(t) + 0.03 * math.sin(8 * math.pi * t), sy=lambda t: 1 - 0.6 * smooth(t)),
    "Squish": Motion(sx=lambda t: 1 + 0.45 * smooth(t / 0.4), sy=lambda t: 1 - 0.55 * smooth(t / 0.4)),
    "Crush": Motion(sx=lambda t: 1 + 0.3 * smooth((t - 0.2) / 0.2), sy=lambda t: 1 - 0.85 * smooth((t - 0.2) / 0.2)),
    "Poke": Motion(sx=lambda t: 1 + 0.1 * (_pulse(t, 0.35) + _pulse(t, 0.65)), sy=lambda t: 1 - 0.2 * (_pulse(t, 0.35) + _pulse(t, 0.65))),
    "Eye-pop": Motion(sx=lambda t: 1 + 0.25 * abs(math.sin(3 * math.pi * t)) ** 4, sy=lambda t: 1 + 0.25 * abs(math.sin(3 * math.pi * t)) ** 4),
    "Levitate": Motion(sx=lambda t: 1.0, sy=lambda t: 1.0, lift=lambda t: 0.3 * smooth(t / 0.6) + 0.04 * math.sin(4 * math.pi * t),
                       turn=lambda t: 3 * math.sin(2 * math.pi * t)),
    "Ta-da": Motion(sx=lambda t: 1 + 0.2 * math.sin(math.pi * min(1.0, t / 0.7)), sy=lambda t: 1 + 0.2 * math.sin(math.pi * min(1.0, t / 0.7)),
                    turn=lambda t: 360 * smooth(t / 0.7), grounded=False),
}  # fmt: skip


def _melt(stage: Stage, rng: random.Random) -> Frames:
    """Columns sag from the top and smear downwards, each at its own pace, into a spreading puddle."""
    sw, sh = stage.subject.size
    n = 32
    pace = [rng.random() for _ in range(n + 2)]
    pace = [(pace[k] + pace[k + 1] + pace[k + 2]) / 3 for k in range(n)]  # neighbours melt alike
    columns = [stage.subject.crop((sw * k // n, 0, sw * (k + 1) // n, sh)) for k in range(n)]
    puddle = stage.subject.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))

    def frame(i: int, count: int) -> Image.Image:
        t = smooth(progress(i, count) / 0.9)
        out = stage.frame()
        floor = stage.y0 + sh
        spread = sw * (0.5 + 0.4 * t)
        ImageDraw.Draw(out).ellipse(
            (stage.x0 + sw / 2 - spread, floor - sh * 0.04 * t, stage.x0 + sw / 2 + spread, floor + sh * 0.06 * t), fill=puddle
        )
        for k, column in enumerate(columns):
            drop = sh * 0.7 * t * (0.45 + 0.55 * pace[k])
            sag, drip = int(drop * 0.6), int(drop * 0.25)
            out.paste(column.resize((column.width, max(2, sh - sag + drip))), (stage.x0 + sw * k // n, stage.y0 + sag), None)
        return out

    return frame


def _fragments(explode: bool) -> Callable[[Stage, random.Random], Frames]:
    def make(stage: Stage, rng: random.Random) -> Frames:
        sw, sh = stage.subject.size
        w, h = stage.background.size
        (scx, scy), cols, rows = stage.centre(), 8, 6
        pieces = []
        for r in range(rows):
            for c in range(cols):
                box = (sw * c // cols, sh * r // rows, sw * (c + 1) // cols, sh * (r + 1) // rows)
                x, y = stage.x0 + (box[0] + box[2]) / 2, stage.y0 + (box[1] + box[3]) / 2
                if explode:  # outwards from the middle, fast, with a kick upwards
                    angle = math.atan2(y - scy, x - scx) + rng.uniform(-0.3, 0.3)
                    speed = rng.uniform(0.5, 1.1) * max(w, h)
                    velocity, delay = (speed * math.cos(angle), speed * math.sin(angle) - 0.3 * h), 0.0
                else:  # crumbling: they drop, top rows last
                    velocity, delay = (
                        (rng.uniform(-0.06, 0.06) * w, 0.0),
                        0.1 + 0.45 * (rows - 1 - r) / rows + rng.uniform(0, 0.1),
                    )
                pieces.append(
                    (stage.subject.crop(box), x, y, velocity, delay, rng.uniform(-360, 360) if explode else rng.uniform(-90, 90))
                )
        start, gravity = (0.3, 1.2 * h) if explode else (0.0, 4.0 * h)

        def frame(i: int, count: int) -> Image.Image:
            t = progress(i, count)
            out = stage.frame()
            if t < start:  # the build-up: a shake that grows
                shake = sw * 0.02 * t / start
                _paste(
                    out, stage.subject, stage.centre()[0] + shake * math.sin(90 * t), stage.centre()[1] + shake * math.cos(70 * t)
                )
                return out
            for piece, x, y, (vx, vy), delay, spin in pieces:
                tau = max(0.0, t - start - delay)
                px, py = x + vx * tau, y + vy * tau + gravity * tau * tau / 2
                if -sw < px < w + sw and py < h + sh:
                    _paste(out, piece.rotate(spin * tau, Image.Resampling.BILINEAR, expand=True) if tau else piece, px, py)
            if explode and t - start < 0.08:  # the flash
                out = Image.blend(out, Image.new("RGB", out.size, (255, 244, 214)), 0.7 * (1 - (t - start) / 0.08))
            return out

        return frame

    return make


def _dissolve(stage: Stage, rng: random.Random) -> Frames:
    """Blocks of the image vanish in a seeded order, a glowing edge running ahead of them."""
    sw, sh = stage.subject.size
    grain = Image.new("L", (max(1, sw // 10), max(1, sh // 10)))
    grain.putdata([rng.randrange(256) for _ in range(grain.width * grain.height)])
    grain = grain.resize((sw, sh), Image.Resampling.NEAREST)
    alpha = stage.subject.getchannel("A")
    glow = Image.new("RGB", (sw, sh), (255, 236, 170))

    def frame(i: int, count: int) -> Image.Image:
        gone = int(280 * smooth((progress(i, count) - 0.15) / 0.75)) - 12
        out = stage.frame()
        keep = ImageChops.multiply(grain.point(lambda v: 255 if v >= gone + 12 else 0), alpha)
        edge = grain.point(lambda v: 255 if gone <= v < gone + 12 else 0)
        out.paste(stage.subject, (stage.x0, stage.y0), keep)
        out.paste(glow, (stage.x0, stage.y0), edge)
        return out

    return frame


def _split(
    vertical: bool, at: float, jagged: bool, moves: tuple[Curve, Curve, Curve], cake: bool = False
) -> Callable[[Stage, random.Random], Frames]:
    """A cut through the subject (torn or straight); the first piece (left or top) moves by `moves` = (dx, dy, turn) of t."""

    def make(stage: Stage, rng: random.Random) -> Frames:
        sw, sh = stage.subject.size
        across, along = (sw, sh) if vertical else (sh, sw)
        cut = [(across * at + (rng.uniform(-1, 1) * across * 0.04 if jagged else 0), along * k / 12) for k in range(13)]
        points = [(a, b) if vertical else (b, a) for a, b in cut]
        mask = Image.new("L", (sw, sh), 0)
        ImageDraw.Draw(mask).polygon([(0, 0), *points, (0, sh)] if vertical else [(0, 0), *points, (sw, 0)], fill=255)
        first = stage.subject.copy()
        first.putalpha(ImageChops.multiply(mask, stage.subject.getchannel("A")))
        rest = stage.subject.copy()
        rest.putalpha(ImageChops.multiply(ImageChops.invert(mask), stage.subject.getchannel("A")))
        cx, cy = stage.centre()
        dx, dy, turn = moves

        def frame(i: int, count: int) -> Image.Image:
            t = progress(i, count)
            out = stage.frame()
            if cake:  # sponge and cream where the top half lifted off
                top = stage.y0 + sh * at + dy(t) * sh
                ImageDraw.Draw(out).rectangle((stage.x0, top, stage.x0 + sw, stage.y0 + sh * at), fill=(238, 204, 150))
                ImageDraw.Draw(out).rectangle((stage.x0, top, stage.x0 + sw, top + sh * 0.04), fill=(252, 246, 236))
            _paste(out, rest, cx - (dx(t) * sw if vertical else 0), cy)
            _paste(out, first.rotate(turn(t), Image.Resampling.BILINEAR, expand=True), cx + dx(t) * sw, cy + dy(t) * sh)
            return out

        return frame

    return make


def _moving(m: Motion) -> Callable[[Stage, random.Random], Frames]:
    return lambda stage, rng: _motion(stage, m)


def _after(start: float, span: float = 0.5) -> Curve:
    return lambda t: smooth((t - start) / span)


EFFECTS: dict[str, Callable[[Stage, random.Random], Frames]] = {
    **{name: _moving(m) for name, m in MOTIONS.items()},
    "Melt": _melt,
    "Explode": _fragments(explode=True),
    "Crumble": _fragments(explode=False),
    "Dissolve": _dissolve,
    "Tear": _split(True, 0.5, True, (lambda t: -0.18 * _after(0.2)(t), lambda t: 0.0, lambda t: 10 * _after(0.2)(t))),
    "Decapitate": _split(False, 0.35, True, (lambda t: 0.15 * _after(0.3)(t), lambda t: -0.7 * _after(0.3)(t), lambda t: 40 * _after(0.3)(t))),
    "Peel": _split(False, 0.5, True, (lambda t: 0.7 * _after(0.2, 0.7)(t), lambda t: 0.25 * _after(0.2, 0.7)(t), lambda t: -35 * _after(0.2, 0.7)(t))),
    "Cake-ify": _split(False, 0.5, False, (lambda t: 0.0, lambda t: -0.3 * _after(0.25)(t), lambda t: 0.0), cake=True),
}  # fmt: skip

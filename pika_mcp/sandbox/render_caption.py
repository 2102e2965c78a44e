"""The preview's caption band (the prompt) and its "not Pika's model" label, drawn once and pasted on every frame."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

# Pillow's bundled font has no em dash; a middle dot it has.
LABEL = "PREVIEW · pika-mcp sandbox, not Pika's model"
SHADE = (0, 0, 0, 150)
LABEL_INK = (255, 214, 90, 255)
CAPTION_INK = (255, 255, 255, 255)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class Overlay:
    image: Image.Image  # RGB
    mask: Image.Image  # L
    position: tuple[int, int]


def overlay(w: int, h: int, caption: str) -> list[Overlay]:
    """The label across the top and the caption across the bottom, each on a translucent band, fitted to the width."""
    size = max(14, min(w, h) // 26)
    font = font_of(size)
    layers = [_band(w, size, LABEL, font, LABEL_INK, (0, 0))]
    if caption.strip():
        layers.append(_band(w, size, caption, font, CAPTION_INK, (0, h - size * 2)))
    return layers


def font_of(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the small bitmap font
        return ImageFont.load_default()


def fitted(text: str, font: Font, width: float) -> str:
    """`text` on one line, cut with an ellipsis to fit `width` pixels."""
    text = " ".join(text.split())
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with its ellipsis
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle].rstrip() + "…") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def _band(w: int, size: int, text: str, font: Font, ink: tuple[int, int, int, int], position: tuple[int, int]) -> Overlay:
    line = fitted(text, font, w - 2 * size)
    band_width = w if ink == CAPTION_INK else min(w, int(font.getlength(line)) + 2 * size)
    band = Image.new("RGBA", (band_width, size * 2), SHADE)
    ImageDraw.Draw(band).text((size, size // 2), line, fill=ink, font=font)
    return Overlay(band.convert("RGB"), band.getchannel("A"), position)

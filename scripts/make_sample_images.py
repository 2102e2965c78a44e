"""Draw the demo's sample images (pika_mcp/assets/*.png): a fox, a lantern-lit forest, a paper boat."""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "pika_mcp" / "assets"
SIZE = (512, 512)


def fox() -> Image.Image:
    im = Image.new("RGB", SIZE, (236, 228, 210))
    d = ImageDraw.Draw(im)
    d.ellipse((150, 250, 370, 470), fill=(214, 110, 40))  # body
    d.polygon([(330, 420), (470, 330), (450, 450)], fill=(214, 110, 40))  # tail
    d.polygon([(440, 360), (470, 330), (462, 392)], fill=(250, 250, 245))
    d.polygon([(160, 150), (360, 150), (260, 300)], fill=(224, 120, 45))  # head
    d.polygon([(160, 150), (185, 70), (230, 150)], fill=(224, 120, 45))  # ears
    d.polygon([(290, 150), (335, 70), (360, 150)], fill=(224, 120, 45))
    d.polygon([(200, 215), (320, 215), (260, 300)], fill=(250, 250, 245))  # muzzle
    d.ellipse((250, 285, 270, 302), fill=(40, 30, 30))
    d.ellipse((212, 180, 232, 200), fill=(40, 30, 30))
    d.ellipse((288, 180, 308, 200), fill=(40, 30, 30))
    return im


def forest() -> Image.Image:
    im = Image.new("RGB", SIZE, (24, 32, 58))
    d = ImageDraw.Draw(im)
    for y in range(512):
        d.line((0, y, 512, y), fill=(24 + y // 16, 32 + y // 12, 58 + y // 20))
    for x, h in ((40, 380), (130, 430), (230, 360), (330, 450), (430, 400)):
        d.rectangle((x + 22, 512 - h // 3, x + 34, 512), fill=(52, 38, 30))
        d.polygon([(x - 20, 512 - h // 3), (x + 76, 512 - h // 3), (x + 28, 512 - h)], fill=(22, 70, 48))
    glow = Image.new("RGB", SIZE)
    g = ImageDraw.Draw(glow)
    for x, y in ((90, 300), (200, 250), (300, 330), (410, 280)):
        g.ellipse((x - 26, y - 26, x + 26, y + 26), fill=(255, 170, 60))
    im = Image.blend(im, Image.composite(glow, im, glow.convert("L")).filter(ImageFilter.GaussianBlur(12)), 0.7)
    d = ImageDraw.Draw(im)
    for x, y in ((90, 300), (200, 250), (300, 330), (410, 280)):
        d.rectangle((x - 8, y - 12, x + 8, y + 12), fill=(255, 214, 120))
    return im


def boat() -> Image.Image:
    im = Image.new("RGB", SIZE, (196, 226, 240))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 360, 512, 512), fill=(70, 130, 180))
    d.polygon([(110, 300), (400, 300), (340, 380), (170, 380)], fill=(250, 250, 250), outline=(150, 150, 150))
    d.polygon([(255, 120), (255, 300), (130, 300)], fill=(240, 240, 236), outline=(150, 150, 150))
    d.polygon([(255, 150), (255, 300), (360, 300)], fill=(225, 225, 220), outline=(150, 150, 150))
    return im


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, draw in (("fox", fox), ("forest", forest), ("boat", boat)):
        draw().save(OUT / f"{name}.png", optimize=True)
        print(OUT / f"{name}.png", (OUT / f"{name}.png").stat().st_size)

"""The sandbox renders real H.264 previews: the requested size, length and frame rate, from its inputs, deterministic, never crashing."""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

av = pytest.importorskip("av")
from PIL import Image, ImageChops, ImageStat  # noqa: E402

from pika_mcp.sandbox.render import render_video  # noqa: E402
from pika_mcp.sandbox.render_scenes import drifting_shapes, soft_light  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent / "pika_mcp" / "assets"
FOX, FOREST, BOAT = "https://in/fox.png", "https://in/forest.png", "https://in/boat.png"
WIDE, TALL, CLIP, TALL_CLIP = "https://in/wide.jpg", "https://in/tall.png", "https://in/clip.mp4", "https://in/tall-clip.mp4"


def picture(size: tuple[int, int], format: str) -> bytes:
    out = io.BytesIO()
    Image.open(ASSETS / "forest.png").convert("RGB").resize(size).save(out, format)
    return out.getvalue()


FILES: dict[str, bytes] = {f"https://in/{p.name}": p.read_bytes() for p in ASSETS.iterdir()}
FILES[WIDE] = picture((1600, 900), "JPEG")
FILES[TALL] = picture((640, 960), "PNG")


@pytest.fixture(scope="module", autouse=True)
def input_clips(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One-second videos for swaps and additions to work on, rendered by the renderer itself."""
    folder = tmp_path_factory.mktemp("clips")
    for url, ratio in ((CLIP, "16:9"), (TALL_CLIP, "9:16")):
        body = {"prompt": "a river at dusk", "aspect_ratio": ratio, "resolution": "720p", "duration": 1, "seed": 11}
        render_video("fal-ai/pika/v2.1/text-to-video", body, folder / "clip.mp4", lambda url: None)
        FILES[url] = (folder / "clip.mp4").read_bytes()


def fetch(url: str) -> bytes | None:
    return FILES.get(url)


@dataclass(frozen=True)
class Decoded:
    codec: str
    size: tuple[int, int]
    fps: float
    duration: float
    hashes: list[str]
    first: Image.Image
    last: Image.Image


def decode(path: Path) -> Decoded:
    hashes, first, last = [], None, None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            hashes.append(hashlib.sha256(b"".join(bytes(p) for p in frame.planes)).hexdigest())
            last = frame
            first = first or frame.to_image()
        context = stream.codec_context
        return Decoded(context.name, (context.width, context.height), float(stream.average_rate),
                       float(stream.duration * stream.time_base), hashes, first, last.to_image())  # fmt: skip


def render(tmp_path: Path, endpoint: str, body: dict[str, Any], fetcher: Any = fetch, name: str = "out.mp4") -> Decoded:
    out = tmp_path / name
    render_video(f"fal-ai/pika/{endpoint}", body, out, fetcher)
    return decode(out)


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel of the middle of two pictures (away from caption and label), 0 to 255."""
    size = (64, 64)
    crop = lambda im: im.convert("RGB").crop((im.width // 5, im.height // 5, im.width * 4 // 5, im.height * 4 // 5)).resize(size)
    return sum(ImageStat.Stat(ImageChops.difference(crop(a), crop(b))).mean) / 3


NEGATIVE = "ugly, bad, terrible"
CASES: list[tuple[str, dict[str, Any], tuple[int, int], int]] = [
    ("v2.2/text-to-video", {"prompt": "a fox walking through a lantern-lit forest at night", "negative_prompt": NEGATIVE,
                            "aspect_ratio": "16:9", "resolution": "720p", "duration": 5, "seed": 42}, (1280, 720), 5),
    ("v2.2/image-to-video", {"image_url": FOX, "prompt": "the fox looks up and wags its tail", "resolution": "720p", "duration": 5},
     (720, 720), 5),
    ("v2.2/pikascenes", {"image_urls": [FOX, FOREST, BOAT], "prompt": "a fox in a lantern-lit forest holding a paper boat",
                         "negative_prompt": NEGATIVE, "aspect_ratio": "1:1", "resolution": "720p", "duration": 5,
                         "ingredients_mode": "precise"}, (720, 720), 5),
    ("v2.2/pikaframes", {"image_urls": [FOX, FOREST, BOAT], "transitions": [{"duration": 2, "prompt": "the fox runs into the forest"},
                                                                             {"duration": 1}], "resolution": "720p"}, (720, 720), 3),
    ("v2.1/text-to-video", {"prompt": "a paper boat on a pond", "aspect_ratio": "4:5", "resolution": "720p", "duration": 2}, (720, 900), 2),
    ("v2.1/image-to-video", {"image_url": TALL, "prompt": "snow begins to fall", "duration": 2}, (720, 1080), 2),
    ("v2/turbo/text-to-video", {"prompt": "a lantern swinging", "aspect_ratio": "9:16", "duration": 1, "seed": 1}, (720, 1280), 1),
    ("v2/turbo/image-to-video", {"image_url": WIDE, "prompt": "the camera drifts", "duration": 1}, (1280, 720), 1),
    ("v2/pikaswaps", {"video_url": CLIP, "image_url": BOAT, "modify_region": "the hills", "prompt": "a paper boat instead"}, (1280, 720), 5),
    ("v2/pikadditions", {"video_url": CLIP, "image_url": FOX, "prompt": "a fox walks into the scene"}, (1280, 720), 5),
    ("v1.5/pikaffects", {"image_url": FOX, "pikaffect": "Explode", "prompt": "the fox bursts into paper pieces"}, (720, 720), 5),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "body", "size", "seconds"), CASES, ids=[c[0] for c in CASES])
def test_each_endpoint_renders_h264_of_the_requested_size_length_and_rate(
    tmp_path: Path, endpoint: str, body: dict[str, Any], size: tuple[int, int], seconds: int
) -> None:
    video = render(tmp_path, endpoint, body)
    assert video.codec == "h264"
    assert video.size == size
    assert video.fps == 24
    assert len(video.hashes) == seconds * 24
    assert video.duration == pytest.approx(seconds, abs=0.05)


def test_pikascenes_defaults_to_1080p_and_honours_a_portrait_ratio(tmp_path: Path) -> None:
    video = render(tmp_path, "v2.2/pikascenes", {"image_urls": [FOX, BOAT], "prompt": "a fox sailing", "aspect_ratio": "9:16"})
    assert video.size == (1080, 1920)
    assert len(video.hashes) == 120


def test_the_same_request_renders_the_same_frames_and_another_seed_does_not(tmp_path: Path) -> None:
    body = {"prompt": "same", "aspect_ratio": "16:9", "resolution": "720p", "duration": 1, "seed": 7}
    a = render(tmp_path, "v2.1/text-to-video", body, name="a.mp4").hashes
    b = render(tmp_path, "v2.1/text-to-video", dict(body), name="b.mp4").hashes
    c = render(tmp_path, "v2.1/text-to-video", body | {"seed": 8}, name="c.mp4").hashes
    assert a == b
    assert a != c


def test_without_a_seed_the_body_itself_makes_the_render_repeatable(tmp_path: Path) -> None:
    body = {"video_url": CLIP, "image_url": BOAT, "modify_region": "the sky"}
    a = render(tmp_path, "v2/pikaswaps", body, name="a.mp4").hashes
    b = render(tmp_path, "v2/pikaswaps", dict(body), name="b.mp4").hashes
    assert a == b


def test_image_to_video_starts_from_its_image(tmp_path: Path) -> None:
    video = render(tmp_path, "v2.1/image-to-video", {"image_url": FOX, "prompt": "p", "duration": 1})
    fox = Image.open(ASSETS / "fox.png")
    assert difference(video.first, fox) < 12
    assert difference(video.first, Image.open(ASSETS / "boat.png")) > 30


def test_pikaframes_ends_on_its_last_keyframe(tmp_path: Path) -> None:
    video = render(tmp_path, "v2.2/pikaframes", {"image_urls": [FOX, BOAT], "transitions": [{"duration": 1}]})
    assert difference(video.first, Image.open(ASSETS / "fox.png")) < 12
    assert difference(video.last, Image.open(ASSETS / "boat.png")) < 12


def test_swaps_keep_the_shape_of_their_input_video(tmp_path: Path) -> None:
    video = render(tmp_path, "v2/pikaswaps", {"video_url": TALL_CLIP, "image_url": FOX, "modify_region": "the sky"})
    assert video.size == (720, 1280)


def test_named_effects_animate_differently(tmp_path: Path) -> None:
    ends = {name: render(tmp_path, "v1.5/pikaffects", {"image_url": BOAT, "pikaffect": name}, name=f"{name}.mp4").last
            for name in ("Inflate", "Melt", "Squish")}  # fmt: skip
    assert difference(ends["Inflate"], ends["Melt"]) > 5
    assert difference(ends["Inflate"], ends["Squish"]) > 5
    assert difference(ends["Melt"], ends["Squish"]) > 5


BROKEN = {
    "nothing": lambda url: None,
    "garbage": lambda url: b"\x89PNG\r\n\x1a\n this is not really an image or a video" * 3,
    "error": lambda url: (_ for _ in ()).throw(OSError("offline")),
}


@pytest.mark.parametrize("fetcher", BROKEN.values(), ids=BROKEN.keys())
def test_inputs_that_cannot_be_fetched_or_decoded_get_a_placeholder(tmp_path: Path, fetcher: Any) -> None:
    for n, (endpoint, body, size) in enumerate([
        ("v2.2/image-to-video", {"image_url": FOX, "prompt": "p", "duration": 5}, (720, 720)),
        ("v2.2/pikaframes", {"image_urls": [FOX, BOAT], "transitions": [{"duration": 1}]}, (720, 720)),
        ("v2/pikadditions", {"video_url": CLIP, "image_url": FOX}, (1280, 720)),
    ]):  # fmt: skip
        video = render(tmp_path, endpoint, body, fetcher, name=f"{n}.mp4")
        assert (video.size, len(video.hashes)) == (size, 24 * (1 if endpoint.endswith("frames") else 5))


def test_a_long_prompt_and_an_odd_duration_still_render(tmp_path: Path) -> None:
    video = render(tmp_path, "v2.1/text-to-video", {"prompt": "a very long prompt " * 130, "duration": 0, "aspect_ratio": "3:2"})
    assert video.size == (1080, 720)
    assert len(video.hashes) == 24  # at least one second


def test_pikascenes_past_the_wire_rules_renders_from_ten_images_never_all(tmp_path: Path) -> None:
    """150 images (2.5 KB of arguments) once cost ~15 MB each in memory: the renderer fetches and keeps ten at most."""
    fetched: list[str] = []

    def counting(url: str) -> bytes | None:
        fetched.append(url)
        return FILES[FOX]

    urls = [f"{FOX}?{n}" for n in range(150)]
    video = render(
        tmp_path, "v2.2/pikascenes", {"image_urls": urls, "prompt": "p", "resolution": "720p", "duration": 1}, counting
    )
    assert video.size == (1280, 720) and len(video.hashes) == 24
    assert fetched == urls[:10]


def straight_step(image: Image.Image, length: int = 20, threshold: int = 12) -> bool:
    """Whether the picture jumps by more than `threshold` grey levels between neighbours all along a straight line of
    `length` pixels (a box's edge); soft lights, hills' slopes and gradients never do."""
    grey = image.convert("L")
    for across, along in (((1, 0), (0, 1)), ((0, 1), (1, 0))):
        step = ImageChops.difference(grey, ImageChops.offset(grey, *across)).point(lambda v: 255 if v > threshold else 0)
        run = step
        for k in range(1, length):
            run = ImageChops.darker(run, ImageChops.offset(step, along[0] * k, along[1] * k))
        inner = run.crop((length, length, grey.width - length, grey.height - length))  # offset wraps around the borders
        if inner.getbbox() is not None:
            return True
    return False


@pytest.mark.parametrize("seed", range(4))
def test_text_to_video_lights_fade_out_instead_of_ending_in_a_hard_edged_box(seed: int) -> None:
    frames = drifting_shapes(640, 360, random.Random(seed))
    assert not any(straight_step(frames(i, 24)) for i in (0, 12, 23))


def test_the_straight_step_check_sees_a_hard_edged_box() -> None:
    picture = Image.new("RGB", (200, 120), (40, 60, 90))
    picture.paste((90, 110, 140), (60, 30, 140, 90))
    assert straight_step(picture) and not straight_step(Image.new("RGB", (200, 120), (40, 60, 90)))


def test_a_soft_light_mask_fades_to_nothing_before_its_edges() -> None:
    for radius in (5, 51, 144):
        mask = soft_light(radius, 219)
        w, h = mask.size
        border = [mask.getpixel((x, y)) for x in range(w) for y in (0, h - 1)] + [
            mask.getpixel((x, y)) for y in range(h) for x in (0, w - 1)
        ]
        assert max(border) <= 2 and mask.getpixel((w // 2, h // 2)) == 219


def test_every_endpoint_the_wire_rules_accept_has_its_own_row_in_the_render_table() -> None:
    from pika_mcp.catalog import ENDPOINTS
    from pika_mcp.sandbox.render import LOOKS
    from pika_mcp.sandbox.wire import ENDPOINT_IDS

    assert set(LOOKS) == set(ENDPOINT_IDS)
    assert {e.endpoint_id for e in ENDPOINTS} <= set(LOOKS)


def test_an_endpoint_without_a_row_is_refused_not_given_another_endpoints_animation(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        render_video("fal-ai/pika/v9/unknown", {"prompt": "x"}, tmp_path / "out.mp4", lambda url: None)
    assert not (tmp_path / "out.mp4").exists()

"""Input models of the Pika endpoints on fal, from fal's current schema, with shared field types defined once."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import unquote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_PROMPT_CHARS = 2500  # fal answers 422 past this (TanStack/ai PR #396)
MAX_FRAMES_SECONDS = 25  # Pikaframes: all transitions together
MEDIA_FIELDS = ("image_url", "image_urls", "video_url")  # fields that take a MediaRef or a list of them
MAX_PATH_CHARS = 4096  # PATH_MAX on Linux: no longer local path exists, and refusals quote the path
MAX_SCENES_IMAGES = 10  # Pikascenes: fal's page shows no cap, but each image costs the renderer memory; 10 is plenty
MAX_URL_CHARS = 8192  # far past any real media URL; one caller's arguments stay small in the shared ledger
MAX_DATA_URI_BYTES = 20 * 1024 * 1024  # decoded; larger inputs should be files


def data_uri_size(uri: str) -> int:
    """The most bytes a data: URI can decode to, from its length alone (nothing is decoded)."""
    header, _, payload = uri.partition(",")
    if header.endswith(";base64"):  # every 4 characters are 3 bytes, less one per padding `=`
        return len(payload) * 3 // 4 - payload.endswith("=") - payload.endswith("==")
    return len(payload) - 2 * payload.count("%")  # each %XX is one byte, every other character one


def is_unc(ref: str) -> bool:
    r"""A network path in any spelling: `\\host\share`, `//host/share`, `file:////host/…`, `file://host/…`.

    Device paths (`\\?\…`, `\\.\…`) count too: no person means one for an image. Judged from the text alone.
    """
    value = ref.strip()
    if value[:7].lower() == "file://":
        host, _, _ = value[7:].partition("/")
        if host.lower() not in ("", "localhost"):
            return True
        value = unquote(value[7 + len(host) :])
    return value.replace("\\", "/").startswith("//")


def _media_ref(value: str) -> str:
    """https URL, data: URI, file:// URI or absolute path; checked for form here, for content later."""
    if value.startswith("data:"):
        if (size := data_uri_size(value)) > MAX_DATA_URI_BYTES:
            raise ValueError(f"a data: URI holds at most {MAX_DATA_URI_BYTES // 2**20} MB, got {size // 2**20} MB; pass a path")
        return value
    if value.startswith(("https://", "http://")):
        if len(value) > MAX_URL_CHARS:
            raise ValueError(f"a media URL is at most {MAX_URL_CHARS} characters, got {len(value)}")
        return value
    if len(value) > MAX_PATH_CHARS:
        raise ValueError(f"a local path or file:// URI is at most {MAX_PATH_CHARS} characters, got {len(value)}")
    if is_unc(value):  # refused here, before any file system call can open a connection to the host it names
        raise ValueError(f"names another host or a network share, never read; give a local path or https URL: {value[:80]!r}")
    if value.startswith("file://"):
        return value
    if value.startswith("/") or (len(value) > 2 and value[1] == ":" and value[2] in "\\/"):
        return value
    raise ValueError(
        "must be an https URL, a data: URI, a file:// URI or an absolute local path "
        f"(relative paths are not accepted), got {value[:80]!r}"
    )


AspectRatio = Annotated[Literal["16:9", "9:16", "1:1", "4:5", "5:4", "3:2", "2:3"], Field(description="Frame shape.")]
Resolution = Annotated[Literal["720p", "1080p"], Field(description="Video size.")]
Duration = Annotated[Literal[5, 10], Field(description="Seconds of video.")]
Seconds = Annotated[int, Field(ge=1, le=10, description="Seconds of video.")]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="Same seed, same video.")]
Prompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="What happens.")]
NegativePrompt = Annotated[str, Field(max_length=MAX_PROMPT_CHARS, description="What to avoid.")]
MediaRef = Annotated[
    str,
    Field(min_length=1, description="https URL, data: URI, file:// URI or absolute local path."),
    AfterValidator(_media_ref),
]
Pikaffect = Literal[
    "Cake-ify", "Crumble", "Crush", "Decapitate", "Deflate", "Dissolve", "Explode", "Eye-pop",
    "Inflate", "Levitate", "Melt", "Peel", "Poke", "Squish", "Ta-da", "Tear",
]  # fmt: skip


class PikaInput(BaseModel):
    """Base of every endpoint input: unknown fields are refused, nothing is coerced silently."""

    model_config = ConfigDict(extra="forbid", strict=True)


class V22TextToVideo(PikaInput):
    prompt: Prompt
    negative_prompt: NegativePrompt = "ugly, bad, terrible"
    aspect_ratio: AspectRatio = "16:9"
    resolution: Resolution = "720p"
    duration: Duration = 5
    seed: Seed | None = None


class V22ImageToVideo(PikaInput):
    image_url: Annotated[MediaRef, Field(description="First frame.")]
    prompt: Prompt
    negative_prompt: NegativePrompt = ""
    resolution: Resolution = "720p"
    duration: Duration = 5
    seed: Seed | None = None


class V22Pikascenes(PikaInput):
    image_urls: Annotated[
        list[MediaRef], Field(min_length=1, max_length=MAX_SCENES_IMAGES, description="1 to 10 images to combine into one scene.")
    ]
    prompt: Prompt
    negative_prompt: NegativePrompt = "ugly, bad, terrible"
    aspect_ratio: AspectRatio = "16:9"
    resolution: Resolution = "1080p"
    duration: Duration = 5
    ingredients_mode: Annotated[
        Literal["precise", "creative"], Field(description="precise follows the images, creative improvises.")
    ] = "precise"
    seed: Seed | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_images(cls, data: object) -> object:
        """The seed document's older `images: [{image_url}]` shape becomes `image_urls`."""
        if isinstance(data, dict) and "images" in data and "image_urls" not in data:
            images = data["images"]
            if isinstance(images, list) and all(isinstance(i, dict) and set(i) == {"image_url"} for i in images):
                data = {k: v for k, v in data.items() if k != "images"} | {"image_urls": [i["image_url"] for i in images]}
        return data

    @field_validator("image_urls", mode="before")
    @classmethod
    def _at_most_ten(cls, value: object) -> object:
        if isinstance(value, list) and len(value) > MAX_SCENES_IMAGES:
            raise ValueError(
                f"Pikascenes combines at most {MAX_SCENES_IMAGES} images, not {len(value)}; pass the ones that matter most"
            )
        return value


class KeyframeTransition(PikaInput):
    duration: Seconds = 5
    prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS, description="Default: the top-level prompt.")] | None = None


class V22Pikaframes(PikaInput):
    image_urls: Annotated[list[MediaRef], Field(min_length=2, max_length=5, description="2 to 5 keyframes, in order.")]
    transitions: (
        Annotated[
            list[KeyframeTransition],
            Field(description="One per gap between keyframes (images - 1); total at most 25 s. Default: 5 s each."),
        ]
        | None
    ) = None
    prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS, description="Default prompt of every transition.")] | None = None
    negative_prompt: NegativePrompt = ""
    resolution: Resolution = "720p"
    seed: Seed | None = None

    @model_validator(mode="after")
    def _transitions_fit(self) -> V22Pikaframes:
        if self.transitions is None:
            return self
        if len(self.transitions) != len(self.image_urls) - 1:
            raise ValueError(
                f"transitions must number one fewer than image_urls: {len(self.image_urls)} images "
                f"need {len(self.image_urls) - 1} transitions, got {len(self.transitions)}"
            )
        if (total := sum(t.duration for t in self.transitions)) > MAX_FRAMES_SECONDS:
            raise ValueError(f"transitions last {total} s in all; the limit is {MAX_FRAMES_SECONDS} s")
        return self


class TextToVideo(PikaInput):
    """Pika 2.1 and 2.0 turbo text-to-video."""

    prompt: Prompt
    negative_prompt: NegativePrompt = ""
    aspect_ratio: AspectRatio = "16:9"
    resolution: Resolution = "720p"
    duration: Seconds = 5
    seed: Seed | None = None


class ImageToVideo(PikaInput):
    """Pika 2.1 and 2.0 turbo image-to-video."""

    image_url: Annotated[MediaRef, Field(description="First frame.")]
    prompt: Prompt
    negative_prompt: NegativePrompt = ""
    resolution: Resolution = "720p"
    duration: Seconds = 5
    seed: Seed | None = None


class Pikaswaps(PikaInput):
    video_url: Annotated[MediaRef, Field(description="The video to edit.")]
    image_url: Annotated[MediaRef, Field(description="What to swap in.")] | None = None
    modify_region: Annotated[str, Field(max_length=MAX_PROMPT_CHARS, description="Plain words for what to replace.")] | None = (
        None
    )
    prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS, description="What to put there, in words.")] | None = None
    negative_prompt: NegativePrompt | None = None
    seed: Seed | None = None


class Pikadditions(PikaInput):
    video_url: Annotated[MediaRef, Field(description="The video to add to.")]
    image_url: Annotated[MediaRef, Field(description="The thing to add.")]
    prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS, description="How to add it.")] | None = None
    negative_prompt: NegativePrompt | None = None
    seed: Seed | None = None


class Pikaffects(PikaInput):
    image_url: Annotated[MediaRef, Field(description="The image to transform.")]
    pikaffect: Annotated[Pikaffect, Field(description="The effect.")]
    prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS, description="Guides the effect.")] | None = None
    negative_prompt: NegativePrompt | None = None
    seed: Seed | None = None


def media_refs(body: dict[str, Any]) -> list[object]:
    """Every value of a body's media fields, lists flattened (unchecked: a body may not be valid yet)."""
    refs: list[object] = []
    for name in MEDIA_FIELDS:
        value = body.get(name)
        refs.extend(value if isinstance(value, list) else [value])
    return refs

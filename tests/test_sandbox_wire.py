"""The sandbox's own wire rules refuse what fal refuses, naming the field, in fal's 422 shape."""

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from pika_mcp.sandbox import Sandbox, SandboxConfig, serve_sandbox
from pika_mcp.sandbox.preview import copy_preview
from pika_mcp.sandbox.wire import ENDPOINT_IDS, validate

T2V = "fal-ai/pika/v2.2/text-to-video"
I2V = "fal-ai/pika/v2.2/image-to-video"
SCENES = "fal-ai/pika/v2.2/pikascenes"
FRAMES = "fal-ai/pika/v2.2/pikaframes"
TURBO_T2V = "fal-ai/pika/v2/turbo/text-to-video"
IMAGE = "https://example.com/cat.png"
VIDEO = "https://example.com/clip.mp4"

VALID: dict[str, dict[str, Any]] = {
    T2V: {"prompt": "a cat", "aspect_ratio": "9:16", "resolution": "1080p", "duration": 10},
    I2V: {"image_url": IMAGE, "prompt": "a cat", "duration": 5, "seed": 7},
    SCENES: {"image_urls": [IMAGE, IMAGE], "prompt": "a cat", "ingredients_mode": "creative"},
    FRAMES: {
        "image_urls": [IMAGE, IMAGE, IMAGE],
        "transitions": [{"duration": 10, "prompt": "zoom"}, {"duration": 5}],
    },
    "fal-ai/pika/v2.1/text-to-video": {"prompt": "a cat", "duration": 7},
    "fal-ai/pika/v2.1/image-to-video": {"image_url": "data:image/png;base64,AAAA", "prompt": "x"},
    TURBO_T2V: {"prompt": "a cat", "negative_prompt": "blur"},
    "fal-ai/pika/v2/turbo/image-to-video": {"image_url": IMAGE, "prompt": "a cat"},
    "fal-ai/pika/v2/pikaswaps": {"video_url": VIDEO, "modify_region": "the cookie jars"},
    "fal-ai/pika/v2/pikadditions": {"video_url": VIDEO, "image_url": IMAGE},
    "fal-ai/pika/v1.5/pikaffects": {"image_url": IMAGE, "pikaffect": "Squish"},
}

# (endpoint, body, field named in loc, error type): one literal bad body per rule.
REFUSED: list[tuple[str, object, list[str | int], str]] = [
    (T2V, {}, ["body", "prompt"], "missing"),
    (T2V, {"prompt": "a cat", "style": "anime"}, ["body", "style"], "extra_forbidden"),
    (T2V, {"prompt": None}, ["body", "prompt"], "string_type"),
    (T2V, {"prompt": "a cat", "seed": None}, ["body", "seed"], "int_type"),
    (T2V, {"prompt": 42}, ["body", "prompt"], "string_type"),
    (T2V, {"prompt": "x" * 2501}, ["body", "prompt"], "string_too_long"),
    (T2V, {"prompt": "a cat", "duration": 7}, ["body", "duration"], "literal_error"),
    (T2V, {"prompt": "a cat", "duration": "5"}, ["body", "duration"], "int_type"),
    (T2V, {"prompt": "a cat", "duration": 5.0}, ["body", "duration"], "int_type"),
    (T2V, {"prompt": "a cat", "seed": True}, ["body", "seed"], "int_type"),
    (T2V, {"prompt": "a cat", "aspect_ratio": "21:9"}, ["body", "aspect_ratio"], "literal_error"),
    (T2V, {"prompt": "a cat", "resolution": "480p"}, ["body", "resolution"], "literal_error"),
    (I2V, {"prompt": "a cat"}, ["body", "image_url"], "missing"),
    (I2V, {"prompt": "a", "image_url": "/home/me/cat.png"}, ["body", "image_url"], "url_scheme"),
    (
        I2V,
        {"prompt": "a", "image_url": IMAGE, "aspect_ratio": "1:1"},
        ["body", "aspect_ratio"],
        "extra_forbidden",
    ),
    (TURBO_T2V, {"prompt": "a cat", "duration": "5"}, ["body", "duration"], "int_type"),
    (
        SCENES,
        {"images": [{"image_url": IMAGE}], "prompt": "a"},
        ["body", "images"],
        "extra_forbidden",
    ),
    (SCENES, {"image_urls": IMAGE, "prompt": "a"}, ["body", "image_urls"], "list_type"),
    (
        SCENES,
        {"image_urls": [IMAGE], "prompt": "a", "ingredients_mode": "wild"},
        ["body", "ingredients_mode"],
        "literal_error",
    ),
    (SCENES, {"image_urls": [IMAGE] * 11, "prompt": "a"}, ["body", "image_urls"], "too_long"),
    (FRAMES, {"image_urls": [IMAGE]}, ["body", "image_urls"], "too_short"),
    (FRAMES, {"image_urls": [IMAGE] * 6}, ["body", "image_urls"], "too_long"),
    (
        FRAMES,
        {"image_urls": [IMAGE] * 3, "transitions": [{"duration": 5}]},
        ["body", "transitions"],
        "value_error",
    ),
    (
        FRAMES,
        {"image_urls": [IMAGE] * 3, "transitions": [{"duration": 20}, {"duration": 10}]},
        ["body", "transitions"],
        "value_error",
    ),
    (
        FRAMES,
        {"image_urls": [IMAGE] * 2, "transitions": [{"duration": "5"}]},
        ["body", "transitions", 0, "duration"],
        "int_type",
    ),
    (
        FRAMES,
        {"image_urls": [IMAGE] * 2, "transitions": [{"seconds": 5}]},
        ["body", "transitions", 0, "seconds"],
        "extra_forbidden",
    ),
    (
        FRAMES,
        {"image_urls": [IMAGE] * 2, "aspect_ratio": "16:9"},
        ["body", "aspect_ratio"],
        "extra_forbidden",
    ),
    (
        "fal-ai/pika/v1.5/pikaffects",
        {"image_url": IMAGE, "pikaffect": "Shrink"},
        ["body", "pikaffect"],
        "literal_error",
    ),
    ("fal-ai/pika/v2/pikadditions", {"video_url": VIDEO}, ["body", "image_url"], "missing"),
    ("fal-ai/pika/v2/pikaswaps", {"image_url": IMAGE}, ["body", "video_url"], "missing"),
]


def test_rules_cover_every_endpoint_of_the_catalog() -> None:
    from pika_mcp.catalog import ENDPOINTS

    assert {e.endpoint_id for e in ENDPOINTS} <= set(ENDPOINT_IDS)
    assert set(VALID) <= set(ENDPOINT_IDS)


@pytest.mark.parametrize("endpoint_id", sorted(VALID))
def test_a_valid_body_passes_every_rule(endpoint_id: str) -> None:
    assert validate(endpoint_id, VALID[endpoint_id]) == []


def test_a_prompt_of_exactly_2500_characters_is_accepted() -> None:
    assert validate(T2V, {"prompt": "x" * 2500}) == []


def test_pikascenes_takes_ten_images_and_refuses_an_eleventh() -> None:
    assert validate(SCENES, {"image_urls": [IMAGE] * 10, "prompt": "a"}) == []
    [problem] = validate(SCENES, {"image_urls": [IMAGE] * 11, "prompt": "a"})
    assert problem["msg"] == "List should have at most 10 items, not 11."


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert validate(T2V, ["a cat"])[0]["type"] == "dict_type"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx2.AsyncClient]:
    """One sandbox for the whole module: these requests are all refused, so nothing is shared."""
    sandbox = Sandbox(tmp_path_factory.mktemp("sandbox"), SandboxConfig(queue_seconds=60), renderer=copy_preview)
    async with (
        serve_sandbox(sandbox) as base,
        httpx2.AsyncClient(base_url=base, headers={"Authorization": "Key test"}) as http,
    ):
        yield http
    sandbox.close()


@pytest.mark.anyio
@pytest.mark.parametrize(("endpoint_id", "body", "loc", "kind"), REFUSED)
async def test_a_bad_body_is_refused_at_submit_with_422_naming_the_field(
    client: httpx2.AsyncClient, endpoint_id: str, body: object, loc: list[str | int], kind: str
) -> None:
    response = await client.post(f"/{endpoint_id}", json=body)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {"loc": loc, "type": kind} in [{"loc": d["loc"], "type": d["type"]} for d in detail]
    assert all(isinstance(d["msg"], str) and d["msg"] for d in detail)

"""The sandbox's own wire rules for every Pika endpoint, written as data from fal's published schema of each endpoint
(required fields, enums, limits; no unknown fields, no nulls).

Deliberately independent of the catalog's Pydantic models: a wrong model must not pass its own
tests. Errors follow fal's 422 body, `{"detail": [{"loc": ["body", field], "msg", "type"}]}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["str", "int", "url", "url_list", "transitions"]
Loc = tuple[str | int, ...]
ErrorItem = dict[str, Any]

ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:5", "5:4", "3:2", "2:3")
RESOLUTIONS = ("720p", "1080p")
PIKAFFECTS = (
    "Cake-ify",
    "Crumble",
    "Crush",
    "Decapitate",
    "Deflate",
    "Dissolve",
    "Explode",
    "Eye-pop",
    "Inflate",
    "Levitate",
    "Melt",
    "Peel",
    "Poke",
    "Squish",
    "Ta-da",
    "Tear",
)
INGREDIENTS_MODES = ("precise", "creative")
PROMPT_MAX_CHARS = 2500  # fal answers 422 above this (TanStack/ai PR #396, verified live)
FRAMES_MIN_IMAGES, FRAMES_MAX_IMAGES = 2, 5
# fal's page names no cap; ours (the catalog's too) keeps one request's render memory small.
SCENES_MAX_IMAGES = 10
FRAMES_MAX_TOTAL_SECONDS = 25
TRANSITION_DEFAULT_SECONDS = 5
URL_SCHEMES = ("http://", "https://", "data:")


@dataclass(frozen=True)
class Field:
    """One input field: its wire type, whether it is required, and its closed set or limits."""

    kind: Kind
    required: bool = False
    choices: tuple[object, ...] | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None


PROMPT = Field("str", required=True, max_length=PROMPT_MAX_CHARS)
OPTIONAL_PROMPT = Field("str", max_length=PROMPT_MAX_CHARS)
NEGATIVE_PROMPT = Field("str")
SEED = Field("int")
ASPECT_RATIO = Field("str", choices=ASPECT_RATIOS)
RESOLUTION = Field("str", choices=RESOLUTIONS)
DURATION_5_OR_10 = Field("int", choices=(5, 10))
DURATION_SECONDS = Field("int")
MEDIA_URL = Field("url", required=True)
OPTIONAL_MEDIA_URL = Field("url")

TEXT_TO_VIDEO_V2 = {
    "prompt": PROMPT,
    "negative_prompt": NEGATIVE_PROMPT,
    "aspect_ratio": ASPECT_RATIO,
    "resolution": RESOLUTION,
    "duration": DURATION_SECONDS,
    "seed": SEED,
}
IMAGE_TO_VIDEO_V2 = {
    "image_url": MEDIA_URL,
    "prompt": PROMPT,
    "negative_prompt": NEGATIVE_PROMPT,
    "resolution": RESOLUTION,
    "duration": DURATION_SECONDS,
    "seed": SEED,
}

FIELDS: dict[str, dict[str, Field]] = {
    "fal-ai/pika/v2.2/text-to-video": {**TEXT_TO_VIDEO_V2, "duration": DURATION_5_OR_10},
    "fal-ai/pika/v2.2/image-to-video": {**IMAGE_TO_VIDEO_V2, "duration": DURATION_5_OR_10},
    "fal-ai/pika/v2.2/pikascenes": {
        "image_urls": Field("url_list", required=True, min_items=1, max_items=SCENES_MAX_IMAGES),
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE_PROMPT,
        "aspect_ratio": ASPECT_RATIO,
        "resolution": RESOLUTION,
        "duration": DURATION_5_OR_10,
        "seed": SEED,
        "ingredients_mode": Field("str", choices=INGREDIENTS_MODES),
    },
    "fal-ai/pika/v2.2/pikaframes": {
        "image_urls": Field("url_list", required=True, min_items=FRAMES_MIN_IMAGES, max_items=FRAMES_MAX_IMAGES),
        "transitions": Field("transitions"),
        "prompt": OPTIONAL_PROMPT,
        "negative_prompt": NEGATIVE_PROMPT,
        "resolution": RESOLUTION,
        "seed": SEED,
    },
    "fal-ai/pika/v2.1/text-to-video": TEXT_TO_VIDEO_V2,
    "fal-ai/pika/v2.1/image-to-video": IMAGE_TO_VIDEO_V2,
    "fal-ai/pika/v2/turbo/text-to-video": TEXT_TO_VIDEO_V2,
    "fal-ai/pika/v2/turbo/image-to-video": IMAGE_TO_VIDEO_V2,
    "fal-ai/pika/v2/pikaswaps": {
        "video_url": MEDIA_URL,
        "image_url": OPTIONAL_MEDIA_URL,
        "modify_region": Field("str"),
        "prompt": OPTIONAL_PROMPT,
        "negative_prompt": NEGATIVE_PROMPT,
        "seed": SEED,
    },
    "fal-ai/pika/v2/pikadditions": {
        "video_url": MEDIA_URL,
        "image_url": MEDIA_URL,
        "prompt": OPTIONAL_PROMPT,
        "negative_prompt": NEGATIVE_PROMPT,
        "seed": SEED,
    },
    "fal-ai/pika/v1.5/pikaffects": {
        "image_url": MEDIA_URL,
        "pikaffect": Field("str", required=True, choices=PIKAFFECTS),
        "prompt": OPTIONAL_PROMPT,
        "negative_prompt": NEGATIVE_PROMPT,
        "seed": SEED,
    },
}
TRANSITION_FIELDS = {"duration": Field("int"), "prompt": OPTIONAL_PROMPT}
ENDPOINT_IDS = tuple(FIELDS)


def error(loc: Loc, msg: str, type_: str) -> ErrorItem:
    return {"loc": ["body", *loc], "msg": msg, "type": type_}


def _check_type(value: object, kind: Kind, loc: Loc) -> ErrorItem | None:
    if kind == "int" and (type(value) is not int):
        return error(loc, "Input should be a valid integer.", "int_type")
    if kind in ("str", "url") and not isinstance(value, str):
        return error(loc, "Input should be a valid string.", "string_type")
    if kind == "url" and not str(value).startswith(URL_SCHEMES):
        return error(loc, "Input should be an http(s) URL or a data: URI.", "url_scheme")
    if kind in ("url_list", "transitions") and not isinstance(value, list):
        return error(loc, "Input should be a valid list.", "list_type")
    return None


def _check_field(value: object, field: Field, loc: Loc) -> list[ErrorItem]:
    problem = _check_type(value, field.kind, loc)
    if problem is not None:
        return [problem]
    if field.choices is not None and value not in field.choices:
        allowed = ", ".join(repr(choice) for choice in field.choices)
        return [error(loc, f"Input should be one of {allowed}.", "literal_error")]
    if field.max_length is not None and len(str(value)) > field.max_length:
        msg = f"String should have at most {field.max_length} characters."
        return [error(loc, msg, "string_too_long")]
    if isinstance(value, list):
        return _check_list(value, field, loc)
    return []


def _check_list(items: list[object], field: Field, loc: Loc) -> list[ErrorItem]:
    if field.min_items is not None and len(items) < field.min_items:
        msg = f"List should have at least {field.min_items} items, not {len(items)}."
        return [error(loc, msg, "too_short")]
    if field.max_items is not None and len(items) > field.max_items:
        msg = f"List should have at most {field.max_items} items, not {len(items)}."
        return [error(loc, msg, "too_long")]
    if field.kind == "transitions":
        return [e for i, item in enumerate(items) for e in _check_transition(item, (*loc, i))]
    return [e for i, item in enumerate(items) for e in _check_field(item, Field("url"), (*loc, i))]


def _check_transition(item: object, loc: Loc) -> list[ErrorItem]:
    if not isinstance(item, dict):
        return [error(loc, "Input should be a valid dictionary.", "dict_type")]
    return check_object(item, TRANSITION_FIELDS, loc)


def check_object(data: dict[str, Any], fields: dict[str, Field], loc: Loc = ()) -> list[ErrorItem]:
    """Check required, unknown and null fields, then each field's type and limits."""
    problems = [
        error((*loc, name), "Field required.", "missing") for name, field in fields.items() if field.required and name not in data
    ]
    for name, value in data.items():
        field = fields.get(name)
        if field is None:
            problems.append(error((*loc, name), "Extra inputs are not permitted.", "extra_forbidden"))
        else:
            problems.extend(_check_field(value, field, (*loc, name)))
    return problems


def _check_frames(body: dict[str, Any]) -> list[ErrorItem]:
    images, transitions = body["image_urls"], body.get("transitions")
    if transitions is None:
        return []
    if len(transitions) != len(images) - 1:
        msg = f"Give one transition fewer than images: {len(images) - 1}, not {len(transitions)}."
        return [error(("transitions",), msg, "value_error")]
    total = sum(t.get("duration", TRANSITION_DEFAULT_SECONDS) for t in transitions)
    if total > FRAMES_MAX_TOTAL_SECONDS:
        msg = f"Transitions should last at most {FRAMES_MAX_TOTAL_SECONDS} s in total, not {total}."
        return [error(("transitions",), msg, "value_error")]
    return []


# Rules across fields, run only once every field passed on its own.
CROSS_CHECKS: dict[str, Callable[[dict[str, Any]], list[ErrorItem]]] = {
    "fal-ai/pika/v2.2/pikaframes": _check_frames,
}


def validate(endpoint_id: str, body: object) -> list[ErrorItem]:
    """Every reason fal would refuse this body, in fal's 422 `detail` shape; empty when valid."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "Input should be a valid dictionary.", "type": "dict_type"}]
    problems = check_object(body, FIELDS[endpoint_id])
    cross = CROSS_CHECKS.get(endpoint_id)
    if not problems and cross is not None:
        problems = cross(body)
    return problems

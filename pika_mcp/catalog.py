"""The catalog: every Pika endpoint on fal as one record of data (tool name, model, price, typical time)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from pika_mcp import models as m

ENDPOINT_PREFIX = "fal-ai/pika/"


def usd(amount: float) -> str:
    """Dollars as fal writes them: `$0.20`, `$0.465`."""
    whole, cents = f"{amount:.3f}".rstrip("0").split(".")
    return f"${whole}.{cents.ljust(2, '0')}"


class PriceRule(Protocol):
    @property
    def estimate(self) -> bool:
        """True where fal does not publish the price."""
        ...

    def usd(self, body: dict[str, Any]) -> float: ...

    def unpublished(self, body: dict[str, Any]) -> bool:
        """True when fal publishes no price for this call and the figure is our estimate."""
        ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class PerVideo:
    price: float
    estimate: bool = False

    def usd(self, body: dict[str, Any]) -> float:
        return self.price

    def unpublished(self, body: dict[str, Any]) -> bool:
        return self.estimate

    def describe(self) -> str:
        return usd(self.price) + (" (estimate)" if self.estimate else "")


@dataclass(frozen=True)
class PerFiveSeconds:
    """Pika 2.2: a price per 5 s by resolution; 10 s costs twice (an estimate: fal lists 5 s only)."""

    by_resolution: tuple[tuple[str, float], ...]
    estimate: bool = False

    def usd(self, body: dict[str, Any]) -> float:
        base = dict(self.by_resolution)[body.get("resolution", "720p")]
        return round(base * float(body.get("duration", 5)) / 5, 4)

    def unpublished(self, body: dict[str, Any]) -> bool:
        return self.estimate or body.get("duration", 5) != 5

    def describe(self) -> str:
        parts = ", ".join(f"{usd(p)} at {r}" for r, p in self.by_resolution)
        return f"5 s: {parts}; 10 s: twice that (estimate)"


@dataclass(frozen=True)
class PerSecond:
    """Pikaframes: billed per second of output by resolution, with a minimum."""

    by_resolution: tuple[tuple[str, float], ...]
    min_seconds: int
    estimate: bool = False

    def usd(self, body: dict[str, Any]) -> float:
        rate = dict(self.by_resolution)[body.get("resolution", "720p")]
        transitions = body.get("transitions")
        seconds = sum(t.get("duration", 5) for t in transitions) if transitions else 5 * (len(body["image_urls"]) - 1)
        return round(rate * max(seconds, self.min_seconds), 4)

    def unpublished(self, body: dict[str, Any]) -> bool:
        return self.estimate

    def describe(self) -> str:
        parts = ", ".join(f"{usd(p)}/s at {r}" for r, p in self.by_resolution)
        return f"{parts}, at least {self.min_seconds} s"


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    title: str
    summary: str  # what it makes, for the model that reads the description
    input_model: type[m.PikaInput]
    price: PriceRule
    typical_seconds: int  # a usual queue + run time on fal

    @cached_property
    def tool(self) -> str:
        path = self.endpoint_id.removeprefix(ENDPOINT_PREFIX).replace(".", "")
        return "pika_" + re.sub(r"[^0-9A-Za-z]+", "_", path)

    @property
    def description(self) -> str:
        minutes = max(1, round(self.typical_seconds / 60))
        return (
            f"{self.summary} Price on fal: {self.price.describe()}. About {minutes} min. "
            "If unfinished, call pika_wait_for_job(job_id)."
        )


V22 = PerFiveSeconds((("720p", 0.20), ("1080p", 0.45)))

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("fal-ai/pika/v2.2/text-to-video", "Pika 2.2 text to video",
             "Makes a video from a text prompt with Pika 2.2 (best quality).",
             m.V22TextToVideo, V22, 90),
    Endpoint("fal-ai/pika/v2.2/image-to-video", "Pika 2.2 image to video",
             "Animates an image (the first frame) with Pika 2.2.",
             m.V22ImageToVideo, V22, 90),
    Endpoint("fal-ai/pika/v2.2/pikascenes", "Pika 2.2 Pikascenes",
             "Combines several images (characters, objects, places) into one video scene following a prompt.",
             m.V22Pikascenes, V22, 120),
    Endpoint("fal-ai/pika/v2.2/pikaframes", "Pika 2.2 Pikaframes",
             "Makes a video that moves through 2 to 5 keyframe images, with optional per-transition prompts.",
             m.V22Pikaframes, PerSecond((("720p", 0.04), ("1080p", 0.06)), min_seconds=5), 120),
    Endpoint("fal-ai/pika/v2.1/text-to-video", "Pika 2.1 text to video",
             "Makes a video from a text prompt with Pika 2.1.",
             m.TextToVideo, PerVideo(0.40, estimate=True), 90),
    Endpoint("fal-ai/pika/v2.1/image-to-video", "Pika 2.1 image to video",
             "Animates an image (the first frame) with Pika 2.1.",
             m.ImageToVideo, PerVideo(0.40), 90),
    Endpoint("fal-ai/pika/v2/turbo/text-to-video", "Pika 2.0 turbo text to video",
             "Makes a video from a text prompt with Pika 2.0 turbo (fast, cheaper).",
             m.TextToVideo, PerVideo(0.20), 45),
    Endpoint("fal-ai/pika/v2/turbo/image-to-video", "Pika 2.0 turbo image to video",
             "Animates an image (the first frame) with Pika 2.0 turbo (fast, cheaper).",
             m.ImageToVideo, PerVideo(0.20), 45),
    Endpoint("fal-ai/pika/v2/pikaswaps", "Pikaswaps",
             "Replaces an object or region of a video (described in words) with an image or a prompt.",
             m.Pikaswaps, PerVideo(0.465), 120),
    Endpoint("fal-ai/pika/v2/pikadditions", "Pikadditions",
             "Adds the object or character of an image into an existing video.",
             m.Pikadditions, PerVideo(0.465), 120),
    Endpoint("fal-ai/pika/v1.5/pikaffects", "Pikaffects",
             "Applies a physical effect to the subject of an image (melt, explode, inflate, squish...).",
             m.Pikaffects, PerVideo(0.465), 60),
)  # fmt: skip

BY_TOOL: dict[str, Endpoint] = {e.tool: e for e in ENDPOINTS}
BY_ID: dict[str, Endpoint] = {e.endpoint_id: e for e in ENDPOINTS}

"""Input validation for fal's Kling image-to-video endpoints.

fal apps validate their input with pydantic, and a bad input is answered with
HTTP 422 and ``{"detail": [{"loc": ["body", field], "msg", "type", ...}]}``.
The simulator uses pydantic too, so the error objects have the same shape.
Only the schema is checked here; whether ``image_url`` can actually be fetched
is found out while the request runs (as on fal, where that surfaces as an
``image_load_error`` in the result).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from provider_sim.sources import shorten
from provider_sim.validation import ImageToVideoRequest

__all__ = ["DEFAULT_ENDPOINT", "KLING_ENDPOINTS", "FalInputError", "parse_kling_input", "shorten"]

DEFAULT_ENDPOINT = "fal-ai/kling-video/v1.6/standard/image-to-video"
# Endpoints sharing the Kling image-to-video input schema that the simulator serves.
KLING_ENDPOINTS = frozenset(
    {
        DEFAULT_ENDPOINT,
        "fal-ai/kling-video/v1.6/pro/image-to-video",
        "fal-ai/kling-video/v1/standard/image-to-video",
        "fal-ai/kling-video/v2.1/standard/image-to-video",
    }
)
MAX_PROMPT = 2500
# Output frame size per aspect ratio (Kling renders 720p).
FRAME_SIZES: dict[str, tuple[int, int]] = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (960, 960)}


class KlingImageToVideoInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(max_length=MAX_PROMPT)
    image_url: str = Field(min_length=1)
    duration: Literal["5", "10"] = "5"
    aspect_ratio: Literal["16:9", "9:16", "1:1"] = "16:9"
    negative_prompt: str = Field(default="blur, distort, and low quality", max_length=MAX_PROMPT)
    cfg_scale: float = Field(default=0.5, ge=0.0, le=1.0)


class FalInputError(Exception):
    """422 body: ``detail`` is a list of pydantic-style error objects."""

    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail


def _detail(exc: ValidationError) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = json.loads(exc.json(include_url=False))
    for error in errors:
        error["loc"] = ["body", *error["loc"]]
    return errors


def parse_kling_input(body: object, endpoint: str) -> tuple[ImageToVideoRequest, KlingImageToVideoInput]:
    """Validate a submitted input; the render request plus the parsed input, or FalInputError."""
    if not isinstance(body, dict):
        raise FalInputError([{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}])
    try:
        parsed = KlingImageToVideoInput.model_validate(body)
    except ValidationError as exc:
        raise FalInputError(_detail(exc)) from exc
    image = parsed.image_url
    if not (image[:5].lower() == "data:" or image.startswith(("http://", "https://"))):
        raise FalInputError(
            [
                {
                    "loc": ["body", "image_url"],
                    "msg": "Input should be a valid URL or a data URI",
                    "type": "url_parsing",
                    "input": shorten(image),
                }
            ]
        )
    width, height = FRAME_SIZES[parsed.aspect_ratio]
    request = ImageToVideoRequest(
        model=endpoint,
        prompt_image=image,
        prompt_image_position="first",
        prompt_text=parsed.prompt,
        ratio=parsed.aspect_ratio,
        width=width,
        height=height,
        duration=int(parsed.duration),
        seed=None,
    )
    return request, parsed

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
PRO_WITH_ASPECT = "fal-ai/kling-video/v1.6/pro/image-to-video"  # the one endpoint that takes `aspect_ratio`
WITH_AUDIO = "fal-ai/kling-video/v2.6/pro/image-to-video"  # `start_image_url`, `generate_audio` (default true)
# Kling image-to-video endpoints the simulator serves.
KLING_ENDPOINTS = frozenset(
    {
        DEFAULT_ENDPOINT,
        PRO_WITH_ASPECT,
        WITH_AUDIO,
        "fal-ai/kling-video/v1/standard/image-to-video",
        "fal-ai/kling-video/v2.1/standard/image-to-video",
    }
)
MAX_PROMPT = 2500
# What Kling renders: about 720p on standard, 1080p on pro (the short side), at 30 fps. Without `aspect_ratio`
# the output takes the input image's aspect.
STANDARD_SHORT_SIDE = 720
PRO_SHORT_SIDE = 1080
FPS = 30
# v1.6 pro's output size per `aspect_ratio`.
FRAME_SIZES: dict[str, tuple[int, int]] = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}


class KlingImageToVideoInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(max_length=MAX_PROMPT)
    image_url: str = Field(min_length=1)
    duration: Literal["5", "10"] = "5"
    negative_prompt: str = Field(default="blur, distort, and low quality", max_length=MAX_PROMPT)
    cfg_scale: float = Field(default=0.5, ge=0.0, le=1.0)


class KlingProImageToVideoInput(KlingImageToVideoInput):
    aspect_ratio: Literal["16:9", "9:16", "1:1"] = "16:9"


class KlingAudioImageToVideoInput(BaseModel):
    """v2.6: the image is `start_image_url`, and sound is generated unless `generate_audio` is false."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(max_length=MAX_PROMPT)
    start_image_url: str = Field(min_length=1)
    duration: Literal["5", "10"] = "5"
    negative_prompt: str = Field(default="blur, distort, and low quality", max_length=MAX_PROMPT)
    cfg_scale: float = Field(default=0.5, ge=0.0, le=1.0)
    generate_audio: bool = True

    @property
    def image_url(self) -> str:
        return self.start_image_url


KlingInput = KlingImageToVideoInput | KlingAudioImageToVideoInput
_SCHEMAS: dict[str, type[KlingImageToVideoInput] | type[KlingAudioImageToVideoInput]] = {
    PRO_WITH_ASPECT: KlingProImageToVideoInput,
    WITH_AUDIO: KlingAudioImageToVideoInput,
}


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


def parse_kling_input(body: object, endpoint: str, *, audio: bool = False) -> tuple[ImageToVideoRequest, KlingInput]:
    """Validate a submitted input; the render request plus the parsed input, or FalInputError. `audio`: every output
    carries a sound track (the simulator's `kling_audio` setting), whatever the endpoint."""
    if not isinstance(body, dict):
        raise FalInputError([{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}])
    schema = _SCHEMAS.get(endpoint, KlingImageToVideoInput)
    try:
        parsed = schema.model_validate(body)
    except ValidationError as exc:
        raise FalInputError(_detail(exc)) from exc
    image = parsed.image_url
    field = "start_image_url" if isinstance(parsed, KlingAudioImageToVideoInput) else "image_url"
    if not (image[:5].lower() == "data:" or image.startswith(("http://", "https://"))):
        raise FalInputError(
            [
                {
                    "loc": ["body", field],
                    "msg": "Input should be a valid URL or a data URI",
                    "type": "url_parsing",
                    "input": shorten(image),
                }
            ]
        )
    short_side = PRO_SHORT_SIDE if "/pro/" in endpoint else STANDARD_SHORT_SIDE
    width, height, ratio = 0, 0, "image"
    if isinstance(parsed, KlingProImageToVideoInput):
        (width, height), ratio, short_side = FRAME_SIZES[parsed.aspect_ratio], parsed.aspect_ratio, 0
    request = ImageToVideoRequest(
        model=endpoint,
        prompt_image=image,
        prompt_image_position="first",
        prompt_text=parsed.prompt,
        ratio=ratio,
        width=width,
        height=height,
        duration=int(parsed.duration),
        seed=None,
        fps=FPS,
        audio=audio or (isinstance(parsed, KlingAudioImageToVideoInput) and parsed.generate_audio),
        short_side=short_side,
    )
    return request, parsed

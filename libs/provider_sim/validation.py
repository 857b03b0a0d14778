"""Request validation for ``POST /v1/image_to_video``.

Turns a decoded JSON body into an :class:`ImageToVideoRequest` or raises
:class:`RequestValidationError` carrying every problem found, as zod-style
issues (``code``, ``path``, ``message``) like the real API's 400 responses.
Unknown top-level keys are accepted and ignored (as a non-strict schema
would) but reported back on the task in ``/_sim/tasks`` so typos are visible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypedDict

from provider_sim.sources import PromptImageError, decode_data_uri, is_http_url


@dataclass(frozen=True)
class ModelFacts:
    """What one Runway model takes and renders (the `runwayml` SDK's request types; NOTES "Providers as they are
    today"): its ratios (the output size in pixels), durations, frame rate and whether it takes `audio`."""

    ratios: frozenset[str]
    durations: tuple[int, ...]
    default_duration: int
    fps: int = 24
    audio: bool = False


_GEN4_RATIOS = frozenset({"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"})
_VEO_RATIOS = frozenset({"1280:720", "720:1280", "1080:1920", "1920:1080"})
MODELS: dict[str, ModelFacts] = {
    "gen4_turbo": ModelFacts(_GEN4_RATIOS, (5, 10), 10),
    "gen4.5": ModelFacts(_GEN4_RATIOS, tuple(range(2, 11)), 5),
    "veo3.1": ModelFacts(_VEO_RATIOS, (4, 6, 8), 8, audio=True),
    "veo3.1_fast": ModelFacts(_VEO_RATIOS, (4, 6, 8), 8, audio=True),
    "veo3": ModelFacts(_VEO_RATIOS, (8,), 8, audio=True),
    "gen3a_turbo": ModelFacts(frozenset({"1280:768", "768:1280"}), (5, 10), 10),  # retired; kept for old clients
}
SUPPORTED_MODELS = frozenset(MODELS)
DURATIONS = (5, 10)  # of a model this table does not know
DEFAULT_DURATION = 10
MAX_PROMPT_TEXT = 1000
MAX_URI_LENGTH = 2048
MAX_SEED = 4_294_967_295
MIN_SIDE, MAX_SIDE = 128, 3840
MAX_PIXELS = 3840 * 2160
# Ratios the real API documents per model, enforced only with strict_ratios (tests render tiny frames).
KNOWN_RATIOS: dict[str, frozenset[str]] = {name: facts.ratios for name, facts in MODELS.items()}
KNOWN_KEYS = frozenset(
    {"model", "promptImage", "promptText", "ratio", "duration", "seed", "contentModeration", "audio"}
)
_RATIO_RE = re.compile(r"^(\d{1,5}):(\d{1,5})$")
_POSITIONS = ("first", "last")


class Issue(TypedDict):
    code: str
    path: list[str | int]
    message: str


class RequestValidationError(Exception):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, i['path']))}: {i['message']}" for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class ImageToVideoRequest:
    model: str
    prompt_image: str
    prompt_image_position: str
    prompt_text: str | None
    ratio: str
    width: int
    height: int
    duration: int
    seed: int | None
    ignored_keys: tuple[str, ...] = ()
    fps: int = 24
    audio: bool = False  # the output carries a sound track
    # Non-zero: the output's aspect follows the input image, with this short side (width/height are then unknown
    # until the image is read; Kling without `aspect_ratio`).
    short_side: int = 0

    def frame_size(self, image_width: int, image_height: int) -> tuple[int, int]:
        """The output's pixel size, given the input image's."""
        if not self.short_side:
            return self.width, self.height
        scale = self.short_side / min(image_width, image_height)
        return _even(image_width * scale), _even(image_height * scale)


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _issue(code: str, path: list[str | int], message: str) -> Issue:
    return {"code": code, "path": path, "message": message}


def _is_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _check_uri(value: object, path: list[str | int], issues: list[Issue], max_data_bytes: int) -> str | None:
    if not isinstance(value, str) or not value:
        issues.append(_issue("invalid_type", path, "Expected a non-empty string URI"))
        return None
    if value[:5].lower() == "data:":
        try:
            decode_data_uri(value, max_data_bytes)
        except PromptImageError as exc:
            issues.append(_issue("invalid_string", path, str(exc)))
            return None
        return value
    if len(value) > MAX_URI_LENGTH:
        issues.append(_issue("too_big", path, f"URL must be at most {MAX_URI_LENGTH} characters"))
        return None
    if not is_http_url(value):
        issues.append(_issue("invalid_string", path, "Expected an http(s) URL or a data:image/... URI"))
        return None
    return value


def _check_prompt_image(value: object, issues: list[Issue], max_data_bytes: int) -> tuple[str, str] | None:
    """Return (uri, position) of the frame to animate."""
    if isinstance(value, str):
        uri = _check_uri(value, ["promptImage"], issues, max_data_bytes)
        return (uri, "first") if uri else None
    if not isinstance(value, list) or not 1 <= len(value) <= 2:
        issues.append(
            _issue(
                "invalid_type",
                ["promptImage"],
                "Expected a URI string or a list of 1-2 {uri, position} objects",
            )
        )
        return None
    chosen: dict[str, str] = {}
    for index, item in enumerate(value):
        path: list[str | int] = ["promptImage", index]
        if not isinstance(item, dict):
            issues.append(_issue("invalid_type", path, "Expected an object with uri and position"))
            continue
        position = item.get("position")
        if position not in _POSITIONS:
            issues.append(_issue("invalid_enum_value", [*path, "position"], "Expected 'first' or 'last'"))
            continue
        if position in chosen:
            issues.append(_issue("custom", [*path, "position"], f"Duplicate position '{position}'"))
            continue
        uri = _check_uri(item.get("uri"), [*path, "uri"], issues, max_data_bytes)
        if uri:
            chosen[str(position)] = uri
    for position in _POSITIONS:
        if position in chosen:
            return chosen[position], position
    return None


def _check_ratio(value: object, model: object, issues: list[Issue], strict: bool) -> tuple[int, int] | None:
    match = _RATIO_RE.match(value) if isinstance(value, str) else None
    if match is None:
        issues.append(_issue("invalid_string", ["ratio"], "Expected a string 'W:H' in pixels, e.g. '1080:1920'"))
        return None
    width, height = int(match.group(1)), int(match.group(2))
    problem = None
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        problem = f"Each side must be between {MIN_SIDE} and {MAX_SIDE} pixels"
    elif width * height > MAX_PIXELS:
        problem = f"At most {MAX_PIXELS} pixels in total"
    elif width % 2 or height % 2:
        problem = "Both sides must be even (H.264 4:2:0 output)"
    elif strict and isinstance(model, str) and model in KNOWN_RATIOS and value not in KNOWN_RATIOS[model]:
        allowed = ", ".join(sorted(KNOWN_RATIOS[model]))
        problem = f"Ratio not available for {model}; expected one of {allowed}"
    if problem:
        issues.append(_issue("invalid_enum_value", ["ratio"], problem))
        return None
    return width, height


def _check_optional(
    body: dict[str, Any], issues: list[Issue], facts: ModelFacts | None
) -> tuple[str | None, int, int | None, bool]:
    text = body.get("promptText")
    if text is not None and not isinstance(text, str):
        issues.append(_issue("invalid_type", ["promptText"], "Expected a string"))
        text = None
    elif isinstance(text, str) and len(text) > MAX_PROMPT_TEXT:
        issues.append(_issue("too_big", ["promptText"], f"At most {MAX_PROMPT_TEXT} characters"))
    durations, duration = (facts.durations, facts.default_duration) if facts else (DURATIONS, DEFAULT_DURATION)
    duration_raw = body.get("duration", duration)
    if not _is_int(duration_raw) or int(duration_raw) not in durations:
        issues.append(_issue("invalid_enum_value", ["duration"], f"Expected one of {list(durations)}"))
    else:
        duration = int(duration_raw)
    audio = body.get("audio", False)
    if not isinstance(audio, bool):
        issues.append(_issue("invalid_type", ["audio"], "Expected a boolean"))
        audio = False
    elif audio and not (facts and facts.audio):
        issues.append(_issue("custom", ["audio"], "This model does not generate audio"))
        audio = False
    seed_raw = body.get("seed")
    seed = None
    if seed_raw is not None:
        if not _is_int(seed_raw) or not 0 <= int(seed_raw) <= MAX_SEED:
            issues.append(_issue("invalid_type", ["seed"], f"Expected an integer 0..{MAX_SEED}"))
        else:
            seed = int(seed_raw)
    moderation = body.get("contentModeration")
    if moderation is not None and not isinstance(moderation, dict):
        issues.append(_issue("invalid_type", ["contentModeration"], "Expected an object"))
    return text, duration, seed, audio


def parse_image_to_video(body: object, *, strict_ratios: bool, max_data_uri_bytes: int) -> ImageToVideoRequest:
    if not isinstance(body, dict):
        raise RequestValidationError([_issue("invalid_type", [], "Expected a JSON object body")])
    issues: list[Issue] = []
    model = body.get("model")
    if model is None:
        issues.append(_issue("invalid_type", ["model"], "Required"))
    elif model not in SUPPORTED_MODELS:
        expected = ", ".join(sorted(SUPPORTED_MODELS))
        issues.append(_issue("invalid_enum_value", ["model"], f"Expected one of {expected}"))
    image = None
    if "promptImage" not in body:
        issues.append(_issue("invalid_type", ["promptImage"], "Required"))
    else:
        image = _check_prompt_image(body["promptImage"], issues, max_data_uri_bytes)
    size = None
    if "ratio" not in body:
        issues.append(_issue("invalid_type", ["ratio"], "Required"))
    else:
        size = _check_ratio(body["ratio"], model, issues, strict_ratios)
    facts = MODELS.get(model) if isinstance(model, str) else None
    text, duration, seed, audio = _check_optional(body, issues, facts)
    if issues or image is None or size is None or not isinstance(model, str):
        raise RequestValidationError(issues or [_issue("custom", [], "Invalid request body")])
    return ImageToVideoRequest(
        model=model,
        prompt_image=image[0],
        prompt_image_position=image[1],
        prompt_text=text,
        ratio=str(body["ratio"]),
        width=size[0],
        height=size[1],
        duration=duration,
        seed=seed,
        ignored_keys=tuple(sorted(k for k in body if k not in KNOWN_KEYS)),
        fps=facts.fps if facts else 24,
        audio=audio,
    )

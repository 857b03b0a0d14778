"""The image prompt: what the image model is asked to paint behind the headline (pure, no I/O).

Built from the content type (scene direction), the platform (tone), the format (composition around
the headline panel and the app's UI), the brand (palette and tone of voice), the post's copy (the
theme, paraphrased as a subject, never quoted) and, on a re-run, the reviewer's feedback.

The prompt never asks the model to draw text: headline and CTA are composited afterwards, crisp and
in the brand font.  Copy that reaches the prompt is reduced to plain words (no quotes, hashtags,
URLs, emoji or handles, so nothing reads like a caption to reproduce), and the prompt ends with an
explicit "no text" rule that also overrides any reviewer request for lettering.
"""

from __future__ import annotations

import colorsys
import re
import unicodedata
from dataclasses import dataclass

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from svd.enums import short_name

MAX_THEME_CHARS = 400
MAX_FEEDBACK_CHARS = 500

CONTENT_DIRECTION: dict[str, str] = {
    "educational": "a clear, well-lit explanatory scene with one obvious subject and a calm, uncluttered setting",
    "promotional": "an aspirational hero shot of the subject, vibrant and premium, shallow depth of field",
    "inspirational": "an uplifting, cinematic scene with soft golden light and a sense of open space",
    "announcement": "a bold, celebratory scene with dramatic lighting and a strong focal point",
    "engagement": "a playful, inviting and relatable everyday scene that invites a reaction",
    "behind-the-scenes": "an authentic, candid look at the people and workspace behind the brand, natural light",
    "ugc": "a casual, authentic smartphone-style photo, natural light, unposed",
}
DEFAULT_DIRECTION = "a striking, brand-appropriate scene with one clear subject"

PLATFORM_NAMES: dict[str, str] = {"instagram": "Instagram", "facebook": "Facebook", "tiktok": "TikTok"}
PLATFORM_TONE: dict[str, str] = {
    "instagram": "polished, aesthetic, editorial look",
    "facebook": "warm, friendly, approachable look",
    "tiktok": "energetic, high-contrast, trend-aware look",
}

FORMAT_COMPOSITION: dict[str, str] = {
    "9:16": (
        "Vertical 9:16 full-bleed composition. Keep the upper-middle third calm and softly lit (a headline panel "
        "is overlaid there later); keep the main subject clear of the outer edges, the top 15% and the bottom 30%, "
        "which the app's own interface covers."
    ),
    "1:1": (
        "Square 1:1 full-bleed composition. Keep the central area calm and softly lit (a headline panel is "
        "overlaid there later); keep the main subject clear of the outer edges."
    ),
}

NO_TEXT_RULE = (
    "Purely visual image: no text, letters, words, numbers, captions, labels, signage, logos or watermarks "
    "anywhere; all lettering is added separately afterwards, so disregard any request above to add text."
)

_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_HANDLE_OR_TAG = re.compile(r"[@#](\w+)")
_QUOTES = "\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a"


@dataclass(frozen=True, slots=True)
class ImageBrief:
    """Everything the prompt depends on (plain values, so the builder is trivially testable)."""

    content_type: str
    platform: str
    aspect_ratio: str
    primary_color: str
    secondary_color: str
    accent_color: str
    tone_of_voice: str
    headline: str
    body: str
    hashtags: tuple[str, ...] = ()
    reviewer_feedback: str = ""


def brief_from_request(request: pipeline_pb2.DesignRequested) -> ImageBrief:
    """The brief for a ``video.design.requested`` event (feedback is set on re-runs only)."""
    spec, brand = request.spec, request.brand
    return ImageBrief(
        content_type=short_name(c.ContentType, spec.content_type).replace("_", "-"),
        platform=short_name(c.Platform, spec.platform),
        aspect_ratio=spec.aspect_ratio or "9:16",
        primary_color=brand.primary_color,
        secondary_color=brand.secondary_color,
        accent_color=brand.accent_color,
        tone_of_voice=brand.tone_of_voice,
        headline=spec.copy.headline,
        body=spec.copy.body,
        hashtags=tuple(spec.copy.hashtags),
        reviewer_feedback=spec.reviewer_feedback,
    )


def plain_words(text: str, limit: int) -> str:
    """``text`` as plain words: no URLs, quotes, emoji, ``#``/``@`` marks or line breaks; cut at a word."""
    text = _URL.sub(" ", text)
    text = _HANDLE_OR_TAG.sub(lambda m: m.group(1).replace("_", " "), text)
    kept = []
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if char in _QUOTES or category.startswith("S") or category in ("Cc", "Cf", "Co", "Cs", "Cn"):
            kept.append(" ")
        else:
            kept.append(char)
    words = " ".join("".join(kept).split())
    if len(words) <= limit:
        return words
    cut = words[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-") + "..."


def colour_name(hex_colour: str) -> str:
    """A rough human name for ``#RRGGBB`` ("deep blue", "bright orange"), which image models follow better."""
    try:
        r, g, b = (int(hex_colour.strip()[i : i + 2], 16) / 255 for i in (1, 3, 5))
    except (ValueError, IndexError):
        return "neutral"
    hue, light, sat = colorsys.rgb_to_hls(r, g, b)
    if sat < 0.15 or light < 0.08 or light > 0.95:
        return "black" if light < 0.2 else "white" if light > 0.85 else "grey"
    names = [(15, "red"), (40, "orange"), (65, "yellow"), (165, "green"), (195, "teal"), (255, "blue")]
    names += [(290, "purple"), (335, "pink"), (361, "red")]
    degrees = hue * 360
    name = next(label for bound, label in names if degrees < bound)
    shade = "deep" if light < 0.35 else "light" if light > 0.7 else "bright" if sat > 0.7 else "muted"
    return f"{shade} {name}"


def _palette(brief: ImageBrief) -> str:
    colours = [("dominant", brief.primary_color), ("secondary", brief.secondary_color), ("accent", brief.accent_color)]
    parts = [f"{colour_name(value)} ({value.upper()}) as {role}" for role, value in colours if value]
    return "Colour palette: " + ", ".join(parts) + "; harmonious lighting that makes these brand colours read clearly."


def build_image_prompt(brief: ImageBrief) -> str:
    """The full prompt for the image model (deterministic for a given brief)."""
    content = brief.content_type.strip().lower().replace("_", "-")
    direction = CONTENT_DIRECTION.get(content, DEFAULT_DIRECTION)
    platform = brief.platform.strip().lower()
    tone = PLATFORM_TONE.get(platform, "clean, modern social-media look")
    composition = FORMAT_COMPOSITION.get(brief.aspect_ratio.strip(), FORMAT_COMPOSITION["9:16"])
    theme = plain_words(" ".join(filter(None, [brief.headline, brief.body])), MAX_THEME_CHARS)
    topics = ", ".join(dict.fromkeys(plain_words(tag, 40) for tag in brief.hashtags if plain_words(tag, 40)))

    lines = [
        f"A photographic background image for a {PLATFORM_NAMES.get(platform, 'social')} video post: {direction}.",
        f"Style: {tone}, suitable as the first frame of a short video.",
        composition,
        _palette(brief),
    ]
    voice = plain_words(brief.tone_of_voice, 200)
    if voice:
        lines.append(f"Mood matching the brand's tone of voice: {voice}.")
    if theme:
        lines.append(f"Subject and theme of the post, to be shown visually: {theme}")
    if topics:
        lines.append(f"Related topics: {topics}.")
    feedback = plain_words(brief.reviewer_feedback, MAX_FEEDBACK_CHARS)
    if feedback:
        lines.append(f"Revision: a reviewer rejected the previous version; change the imagery accordingly: {feedback}")
    lines.append(NO_TEXT_RULE)
    return "\n".join(lines)

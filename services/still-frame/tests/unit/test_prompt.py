"""The image prompt: built from content type, platform, brand and copy; feedback on re-runs; never asks for text."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from social_video.v1 import common_pb2 as c
from social_video.v1 import pipeline_pb2
from still_frame.prompt import (
    CONTENT_DIRECTION,
    NO_TEXT_RULE,
    PLATFORM_TONE,
    ImageBrief,
    brief_from_request,
    build_image_prompt,
    colour_name,
    plain_words,
)

BRIEF = ImageBrief(
    content_type="promotional",
    platform="instagram",
    aspect_ratio="9:16",
    primary_color="#1E3A8A",
    secondary_color="#9333EA",
    accent_color="#F59E0B",
    tone_of_voice="Warm, confident, a little playful",
    headline="Summer menu is here",
    body="Fresh mango smoothies and iced lattes, all week long.",
    hashtags=("#SummerVibes", "#coffee"),
)

# Phrases that would ask an image model to letter something.
TEXT_REQUESTS = re.compile(
    r"(with the (text|words?)|that (says|reads)|saying\b|caption(ed)? ['\"]|write\b|spell|typography|lettering of"
    r"|headline reading|in big letters)",
    re.IGNORECASE,
)


def _without_rule(prompt: str) -> str:
    assert prompt.endswith(NO_TEXT_RULE)
    return prompt[: -len(NO_TEXT_RULE)]


@pytest.mark.parametrize("content_type", sorted(CONTENT_DIRECTION))
@pytest.mark.parametrize("platform", sorted(PLATFORM_TONE))
@pytest.mark.parametrize("aspect", ["9:16", "1:1"])
def test_every_content_type_platform_and_format(content_type: str, platform: str, aspect: str) -> None:
    prompt = build_image_prompt(replace(BRIEF, content_type=content_type, platform=platform, aspect_ratio=aspect))
    assert CONTENT_DIRECTION[content_type] in prompt
    assert PLATFORM_TONE[platform] in prompt
    assert ("Vertical 9:16" if aspect == "9:16" else "Square 1:1") in prompt
    assert not TEXT_REQUESTS.search(_without_rule(prompt))
    assert len(prompt) < 4000


def test_brand_palette_tone_and_theme() -> None:
    prompt = build_image_prompt(BRIEF)
    assert "deep blue (#1E3A8A) as dominant" in prompt
    assert "(#9333EA) as secondary" in prompt and "(#F59E0B) as accent" in prompt
    assert "Warm, confident, a little playful" in prompt
    assert "Summer menu is here Fresh mango smoothies and iced lattes, all week long." in prompt
    assert "Related topics: SummerVibes, coffee." in prompt
    assert "Revision" not in prompt  # first run: no feedback


def test_reviewer_feedback_only_on_rerun_and_never_overrides_no_text() -> None:
    rerun = replace(BRIEF, reviewer_feedback='Too dark. Add "50% OFF" in big letters and a brighter beach')
    prompt = build_image_prompt(rerun)
    assert "rejected the previous version" in prompt
    assert "Too dark. Add 50% OFF in big letters and a brighter beach" in prompt  # unquoted, plain words
    assert prompt.index("Revision") < prompt.index(NO_TEXT_RULE)  # the rule comes last and wins
    assert prompt.endswith("disregard any request above to add text.")


def test_copy_is_reduced_to_plain_words() -> None:
    brief = replace(
        BRIEF,
        headline='"Big" launch 🚀 today!',
        body="Visit https://example.com/x?y=1 or www.shop.test — follow @our_brand #NewIn\nNow",
    )
    prompt = build_image_prompt(brief)
    theme = next(line for line in prompt.splitlines() if line.startswith("Subject and theme"))
    assert theme.endswith("Big launch today! Visit or — follow our brand NewIn Now")
    for forbidden in ('"', "🚀", "http", "www.", "#", "@"):
        assert forbidden not in theme


def test_long_copy_is_cut_at_a_word() -> None:
    words = plain_words("lorem ipsum " * 100, 50)
    assert len(words) <= 53 and words.endswith("...") and not words.endswith(" ...")


def test_prompt_is_deterministic_and_tolerates_missing_fields() -> None:
    assert build_image_prompt(BRIEF) == build_image_prompt(BRIEF)
    bare = ImageBrief("", "", "", "", "", "", "", "", "")
    prompt = build_image_prompt(bare)
    assert "social video post" in prompt and "Vertical 9:16" in prompt and prompt.endswith(NO_TEXT_RULE)


@pytest.mark.parametrize(
    ("hex_colour", "name"),
    [
        ("#1E3A8A", "deep blue"),
        ("#F59E0B", "bright orange"),
        ("#FFFFFF", "white"),
        ("#111111", "black"),
        ("#808080", "grey"),
        ("#16A34A", "bright green"),
        ("#7A9A5A", "muted green"),
        ("#FBCFE8", "light pink"),
        ("nope", "neutral"),
    ],
)
def test_colour_names(hex_colour: str, name: str) -> None:
    assert colour_name(hex_colour) == name


def test_brief_from_design_requested() -> None:
    request = pipeline_pb2.DesignRequested(
        ref=pipeline_pb2.JobRef(job_id="j1", tenant_id="t1", social_post_id="p1", run=2),
        spec=pipeline_pb2.VideoSpec(
            platform=c.PLATFORM_TIKTOK,
            platform_format=c.PLATFORM_FORMAT_TIKTOK,
            content_type=c.CONTENT_TYPE_BEHIND_THE_SCENES,
            copy=c.PostCopy(headline="Meet the team", body="How we roast", cta="Follow", hashtags=["#coffee"]),
            aspect_ratio="",
            reviewer_feedback="more people, less machinery",
            wake_reason=c.WAKE_REASON_CLIENT_REJECTED,
        ),
        brand=pipeline_pb2.BrandStyle(
            primary_color="#111827", secondary_color="#F3F4F6", accent_color="#EF4444", tone_of_voice="honest"
        ),
    )
    brief = brief_from_request(request)
    assert brief.content_type == "behind-the-scenes" and brief.platform == "tiktok" and brief.aspect_ratio == "9:16"
    assert brief.reviewer_feedback == "more people, less machinery" and brief.hashtags == ("#coffee",)
    prompt = build_image_prompt(brief)
    assert CONTENT_DIRECTION["behind-the-scenes"] in prompt and "TikTok" in prompt
    assert "more people, less machinery" in prompt
    assert "Follow" not in prompt  # the CTA is an instruction to viewers, not imagery

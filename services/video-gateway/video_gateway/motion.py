"""The motion prompt (pure): content-type motion, platform feel, reviewer feedback and fixed constraints."""

from __future__ import annotations

from social_video.v1 import common_pb2 as c

# How the camera moves for each content type.
MOTION_MAP: dict[int, str] = {
    c.CONTENT_TYPE_EDUCATIONAL: "Slow, steady push-in toward the subject; calm and clear.",
    c.CONTENT_TYPE_PROMOTIONAL: "Smooth slow zoom in on the hero subject with subtle parallax; premium product feel.",
    c.CONTENT_TYPE_INSPIRATIONAL: "Gentle upward drift with soft light shifting across the scene; uplifting mood.",
    c.CONTENT_TYPE_ANNOUNCEMENT: "Confident push-in toward the centre of the frame; a sense of reveal.",
    c.CONTENT_TYPE_ENGAGEMENT: "Playful gentle sway with light, lively ambient motion.",
    c.CONTENT_TYPE_BEHIND_THE_SCENES: "Handheld documentary feel with a subtle natural sway.",
    c.CONTENT_TYPE_UGC: "Casual handheld phone-camera feel with a slight sway.",
}
DEFAULT_MOTION = "Slow zoom in with gentle ambient motion."

# The feel each platform's audience expects.
PLATFORM_MOTION: dict[int, str] = {
    c.PLATFORM_INSTAGRAM: "Polished, cinematic and smooth, made for a vertical full-screen feed.",
    c.PLATFORM_TIKTOK: "Energetic and native to vertical short-form video.",
    c.PLATFORM_FACEBOOK: "Clear, steady movement that reads well with the sound off.",
}

CONSTRAINTS = "No text or logo movement. No cuts. Single continuous shot."
MAX_FEEDBACK = 400
MAX_PROMPT = 1000  # Runway's promptText limit


def motion_prompt(content_type: int, platform: int, reviewer_feedback: str = "") -> str:
    """The prompt sent with the still; feedback from a rejection is included so the re-run addresses it."""
    parts = [MOTION_MAP.get(content_type, DEFAULT_MOTION), PLATFORM_MOTION.get(platform, "")]
    feedback = " ".join(reviewer_feedback.split())[:MAX_FEEDBACK]
    if feedback:
        parts.append(f"Reviewer feedback to address: {feedback}")
    parts.append(CONSTRAINTS)
    return " ".join(p for p in parts if p)[:MAX_PROMPT]

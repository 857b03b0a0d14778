"""Runway's image-to-video models as they are today, in one table, and which of them can make a given clip (pure).

Read from the official `runwayml` SDK (5.24: `types/image_to_video_create_params.py`) and Runway's pricing:
`ratio` is the output size in pixels, so the ratio chosen for a deliverable aspect is the largest the model renders
in that shape. `gen4_turbo` and `gen4.5` top out at 720x1280 portrait (960x960 square) at 24 fps; only the Veo
models render 1080x1920, with no square, at 4, 6 or 8 s (veo3: 8 s only) and several times the price.

A model that cannot make the requested clip is never sent it: a duration it does not offer is replaced by the
shortest longer one it does (media-store cuts the clip to the requested length, so Veo's 6 s serves a 5 s clip), and
when no configured model fits, the submit fails over to the next provider without sending anything (see
`ErrorKind.UNSUPPORTED`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class RunwayModel:
    name: str
    ratios: tuple[str, ...]  # every `ratio` the API takes for the model: "W:H" in output pixels
    durations: tuple[int, ...]  # every `duration` (seconds) it takes
    fps: int  # frame rate of its output
    credits_per_second: tuple[int, int]  # Runway credits per output second (without / with audio or at most)
    prompt_text_required: bool = False
    audio: bool = False  # takes `audio` (sound generation, priced higher)

    def ratio_for(self, aspect_ratio: str) -> str | None:
        """The largest ratio of the deliverable's shape ("9:16", "1:1"), or None when the model has none."""
        want = _shape(aspect_ratio)
        fitting = [r for r in self.ratios if _shape(r) == want]
        return max(fitting, key=lambda r: _pixels(r), default=None)

    def duration_for(self, seconds: int) -> int | None:
        """The duration to ask for: `seconds` if offered, else the shortest longer one (the clip is cut to length
        when it is stored), else None."""
        return min((d for d in self.durations if d >= seconds), default=None)

    def cannot_make(self, seconds: int, aspect_ratio: str) -> str | None:
        """Why the model cannot make a `seconds` clip of that shape, or None when it can."""
        problems = []
        if self.ratio_for(aspect_ratio) is None:
            problems.append(f"no {aspect_ratio} ratio (it renders {', '.join(self.ratios)})")
        if self.duration_for(seconds) is None:
            problems.append(f"no {seconds} s clip (it renders {'/'.join(map(str, self.durations))} s)")
        return f"{self.name} has " + " and ".join(problems) if problems else None


def _shape(ratio: str) -> Fraction:
    width, _, height = ratio.partition(":")
    return Fraction(int(width), int(height))


def _pixels(ratio: str) -> int:
    width, _, height = ratio.partition(":")
    return int(width) * int(height)


_GEN4_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
_VEO_RATIOS = ("1280:720", "720:1280", "1080:1920", "1920:1080")

MODELS: Final = MappingProxyType(
    {
        m.name: m
        for m in (
            RunwayModel("gen4_turbo", _GEN4_RATIOS, (5, 10), fps=24, credits_per_second=(5, 5)),
            RunwayModel(
                "gen4.5",
                _GEN4_RATIOS,
                tuple(range(2, 11)),
                fps=24,
                credits_per_second=(12, 12),
                prompt_text_required=True,
            ),
            RunwayModel("veo3.1", _VEO_RATIOS, (4, 6, 8), fps=24, credits_per_second=(20, 40), audio=True),
            RunwayModel("veo3.1_fast", _VEO_RATIOS, (4, 6, 8), fps=24, credits_per_second=(10, 15), audio=True),
            RunwayModel("veo3", _VEO_RATIOS, (8,), fps=24, credits_per_second=(40, 40), audio=True),
        )
    }
)


def model(name: str) -> RunwayModel:
    """The table's entry for `name`; ValueError for a model the table does not know (a settings error at start)."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown Runway model {name!r}; known: {', '.join(MODELS)}") from None


@dataclass(frozen=True)
class Choice:
    model: RunwayModel
    ratio: str
    duration: int


def choose(candidates: tuple[RunwayModel, ...], seconds: int, aspect_ratio: str) -> Choice | str:
    """The first candidate (in the configured order) that can make the clip, or why none can."""
    reasons = []
    for candidate in candidates:
        reason = candidate.cannot_make(seconds, aspect_ratio)
        if reason is None:
            ratio, duration = candidate.ratio_for(aspect_ratio), candidate.duration_for(seconds)
            assert ratio is not None and duration is not None
            return Choice(candidate, ratio, duration)
        reasons.append(reason)
    return f"no configured Runway model can make a {seconds} s {aspect_ratio} clip: " + "; ".join(reasons)

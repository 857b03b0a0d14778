"""Motion-prompt parsing: map free-form prompt text to a simple camera move.

Pure and keyword based. The simulator has no generative model, so the only
part of a prompt it can honour is the camera direction; everything else in the
text is ignored. When several moves are mentioned the earliest one wins, and a
mention preceded by a negation ("no zoom", "without panning") is skipped.
"""

from __future__ import annotations

import re
from enum import StrEnum


class CameraMove(StrEnum):
    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"
    SWAY = "sway"
    STATIC = "static"


DEFAULT_MOVE = CameraMove.ZOOM_IN

_MOVER = r"(?:zoom|push|dolly|dollie|track|truck|move|moving|pull|crane)(?:s|es|ing|ed)?"

_PATTERNS: tuple[tuple[CameraMove, re.Pattern[str]], ...] = (
    (
        CameraMove.ZOOM_OUT,
        re.compile(rf"\b(?:{_MOVER}[\s-]+(?:out|back|away)|pull[\s-]?back|zoom[\s-]?out|widen(?:s|ing)?\b)"),
    ),
    (
        CameraMove.ZOOM_IN,
        re.compile(
            rf"\b(?:{_MOVER}[\s-]+(?:in|into|forward|closer)\b|push[\s-]?in|zoom[\s-]?in\b"
            r"|slow[\s-]+zoom(?![\s-]*out)|close[\s-]+in\b)"
        ),
    ),
    (
        CameraMove.PAN_LEFT,
        re.compile(rf"\b(?:pan(?:s|ning|ned)?|{_MOVER}|swing(?:s|ing)?)[\s-]+(?:to[\s-]+the[\s-]+)?left\b"),
    ),
    (
        CameraMove.PAN_RIGHT,
        re.compile(rf"\b(?:pan(?:s|ning|ned)?|{_MOVER}|swing(?:s|ing)?)[\s-]+(?:to[\s-]+the[\s-]+)?right\b"),
    ),
    (
        CameraMove.SWAY,
        re.compile(
            r"\b(?:sway\w*|drift\w*|float\w*|hand[\s-]?held|bob(?:s|bing)?|wobbl\w*|orbit\w*"
            r"|gentle[\s-]+(?:camera[\s-]+)?(?:motion|movement))"
        ),
    ),
    (
        CameraMove.STATIC,
        re.compile(
            r"\b(?:static|locked[\s-]?off|still[\s-]+(?:camera|shot|frame)|tripod"
            r"|(?:no|without)[\s-]+camera[\s-]+(?:motion|movement))"
        ),
    ),
)

# A move preceded by one of these (within a couple of words) is being ruled
# out, not requested; "no camera movement" is matched explicitly as STATIC.
_NEGATION = re.compile(r"\b(?:no|not|never|without|avoid|don't|dont)\s+(?:\w+\s+)?$")


def parse_motion(text: str | None) -> CameraMove:
    """Return the camera move described by ``text`` (default: slow zoom in)."""
    if not text:
        return DEFAULT_MOVE
    lowered = text.lower()
    best: tuple[int, CameraMove] | None = None
    for move, pattern in _PATTERNS:
        for match in pattern.finditer(lowered):
            if move is not CameraMove.STATIC and _NEGATION.search(lowered[: match.start()]):
                continue
            if best is None or match.start() < best[0]:
                best = (match.start(), move)
            break
    return best[1] if best else DEFAULT_MOVE

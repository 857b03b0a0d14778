"""Greedy line wrapping against a measuring callable (pure, no Pillow).

Text is wrapped at whitespace.  A word wider than the line is either
rejected (so the caller can try a smaller font) or, when allowed, broken
without a hyphen into the longest pieces that fit.  Runs of CJK ideographs
and kana may always be broken between characters, as CJK typesetting does.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

Measure = Callable[[str, int], tuple[int, int]]


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def breakable_anywhere(word: str) -> bool:
    """True for words that may be split between any two characters (CJK runs)."""
    return any(_is_wide(c) and c.isalpha() for c in word)


def _is_cluster_start(word: str, index: int) -> bool:
    """Never split before a combining mark, joiner or variation selector."""
    char = word[index]
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return False
    return not (index > 0 and word[index - 1] == "\u200d")


def break_word(word: str, size: int, max_width: int, measure: Measure) -> list[str] | None:
    """Split ``word`` into pieces no wider than ``max_width``, or ``None`` if a
    single character is already too wide."""
    pieces: list[str] = []
    rest = word
    while rest:
        if measure(rest, size)[0] <= max_width:
            pieces.append(rest)
            break
        # Largest prefix length that fits, by bisection (width grows with length).
        lo, hi = 0, len(rest)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if measure(rest[:mid], size)[0] <= max_width:
                lo = mid
            else:
                hi = mid
        cut = lo
        while 0 < cut < len(rest) and not _is_cluster_start(rest, cut):
            cut -= 1
        if cut == 0:
            return None
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return pieces


def wrap_text(
    text: str,
    size: int,
    max_width: int,
    measure: Measure,
    *,
    break_long_words: bool,
) -> list[str] | None:
    """Greedy-wrap ``text`` at font ``size`` into lines of at most ``max_width`` px.

    Returns ``None`` when a word does not fit and may not be broken (or a
    single character is wider than the line).  Whitespace is collapsed.
    """
    if max_width <= 0:
        return None
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if measure(candidate, size)[0] <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        if measure(word, size)[0] <= max_width:
            current = word
            continue
        if not (break_long_words or breakable_anywhere(word)):
            return None
        pieces = break_word(word, size, max_width, measure)
        if pieces is None:
            return None
        lines.extend(pieces[:-1])
        current = pieces[-1]
    if current:
        lines.append(current)
    return lines


def ellipsize(line: str, size: int, max_width: int, measure: Measure, ellipsis: str) -> str:
    """``line`` shortened so that ``line + ellipsis`` fits ``max_width``."""
    text = line.rstrip()
    while text:
        candidate = text.rstrip() + ellipsis
        if measure(candidate, size)[0] <= max_width:
            return candidate
        text = text[:-1]
    return ellipsis if measure(ellipsis, size)[0] <= max_width else ""

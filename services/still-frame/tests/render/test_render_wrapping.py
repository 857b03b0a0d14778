"""Line wrapping and word breaking with a deterministic fake measure."""

from __future__ import annotations

from still_frame.render.wrapping import break_word, breakable_anywhere, ellipsize, wrap_text


def mono(text: str, size: int) -> tuple[int, int]:
    """Monospace fake: every character is ``size // 2`` wide."""
    return (len(text) * (size // 2), size)


def test_wrap_greedy() -> None:
    lines = wrap_text("aa bb cc dd", 10, 25, mono, break_long_words=False)
    assert lines == ["aa bb", "cc dd"]


def test_long_word_rejected_unless_breaking_allowed() -> None:
    assert wrap_text("short " + "x" * 30, 10, 50, mono, break_long_words=False) is None
    lines = wrap_text("short " + "x" * 30, 10, 50, mono, break_long_words=True)
    assert lines == ["short", "x" * 10, "x" * 10, "x" * 10]


def test_broken_word_tail_joins_next_word() -> None:
    lines = wrap_text("x" * 12 + " ab", 10, 50, mono, break_long_words=True)
    assert lines == ["x" * 10, "xx ab"]


def test_break_word_never_splits_before_combining_mark() -> None:
    word = "abcde\u0301fgh"  # e + combining acute at index 4..5
    pieces = break_word(word, 10, 25, mono)
    assert pieces is not None
    assert "".join(pieces) == word
    assert all(not p.startswith("\u0301") for p in pieces)


def test_char_wider_than_line() -> None:
    assert break_word("abc", 100, 10, mono) is None
    assert wrap_text("abc", 100, 10, mono, break_long_words=True) is None


def test_cjk_runs_break_at_any_size() -> None:
    assert breakable_anywhere("東京タワー")
    assert not breakable_anywhere("Tokyo")
    lines = wrap_text("東京東京東京東京", 10, 20, mono, break_long_words=False)
    assert lines == ["東京東京", "東京東京"]


def test_whitespace_collapsed_and_empty() -> None:
    assert wrap_text("  a \n\t b  ", 10, 100, mono, break_long_words=False) == ["a b"]
    assert wrap_text("   ", 10, 100, mono, break_long_words=False) == []


def test_ellipsize() -> None:
    assert ellipsize("abcdefghij", 10, 30, mono, "...") == "abc..."
    assert mono(ellipsize("abcdefghij", 10, 30, mono, "..."), 10)[0] <= 30
    assert ellipsize("abc", 10, 5, mono, "...") == ""

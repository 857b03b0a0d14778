"""WCAG luminance / contrast math against known values."""

from __future__ import annotations

import pytest

from still_frame.render.contrast import (
    best_text_color,
    composite_over,
    contrast_ratio,
    mix,
    relative_luminance,
)


def test_luminance_extremes() -> None:
    assert relative_luminance((0, 0, 0)) == 0.0
    assert relative_luminance((255, 255, 255)) == pytest.approx(1.0)


def test_black_white_is_21() -> None:
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((255, 255, 255), (0, 0, 0)) == pytest.approx(21.0)


def test_same_colour_is_1() -> None:
    assert contrast_ratio((18, 52, 86), (18, 52, 86)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((119, 119, 119), (255, 255, 255), 4.48),  # #777 on white: the classic AA near-miss
        ((118, 118, 118), (255, 255, 255), 4.54),  # #767676 is the lightest grey passing AA
        ((255, 0, 0), (255, 255, 255), 4.00),
        ((0, 0, 255), (255, 255, 255), 8.59),
        ((0, 128, 0), (255, 255, 255), 5.14),
    ],
)
def test_known_ratios(a: tuple[int, int, int], b: tuple[int, int, int], expected: float) -> None:
    assert contrast_ratio(a, b) == pytest.approx(expected, abs=0.01)


def test_primary_luminance_coefficients() -> None:
    assert relative_luminance((255, 0, 0)) == pytest.approx(0.2126)
    assert relative_luminance((0, 255, 0)) == pytest.approx(0.7152)
    assert relative_luminance((0, 0, 255)) == pytest.approx(0.0722)


def test_out_of_range_rejected() -> None:
    with pytest.raises(ValueError, match="out of range"):
        relative_luminance((256, 0, 0))


@pytest.mark.parametrize("grey", [0, 60, 118, 119, 120, 128, 200, 255])
def test_best_text_colour_always_passes_aa(grey: int) -> None:
    bg = (grey, grey, grey)
    assert contrast_ratio(best_text_color(bg), bg) >= 4.5


def test_mix_and_composite() -> None:
    assert mix((0, 0, 0), (255, 255, 255), 0.0) == (0, 0, 0)
    assert mix((0, 0, 0), (255, 255, 255), 1.0) == (255, 255, 255)
    assert mix((0, 0, 0), (200, 100, 50), 0.5) == (100, 50, 25)
    assert composite_over((255, 255, 255), 0.25, (0, 0, 0)) == pytest.approx((63.75, 63.75, 63.75))
    with pytest.raises(ValueError):
        composite_over((0, 0, 0), 1.5, (0, 0, 0))

"""Layout geometry: every format x aspect x headline x logo shape stays inside
the frame and the platform safe rect, text fits, sizes stay in bounds."""

from __future__ import annotations

import pytest

from still_frame.render.fonts import FontSet, renderable_text
from still_frame.render.formats import output_size
from still_frame.render.geometry import Box
from still_frame.render.layout import Layout, compute_layout, fit_logo
from still_frame.render.typesetting import TypeScale
from still_frame.render.wrapping import Measure

LONG_200 = (
    "Our biggest summer launch ever brings fresh flavours, new limited editions and a "
    "surprise collaboration with local artists, available in every store and online "
    "from Friday morning, while stocks last!!"
)
assert len(LONG_200) == 200
WORD_60 = ("Rindfleischetikettierungsueberwachungsaufgabenuebertragungsgesetze" * 2)[:60]
assert len(WORD_60) == 60 and " " not in WORD_60
HEADLINES = {
    "short": "Big news",
    "long200": LONG_200,
    "word60": WORD_60,
    "unicode": "Café ☕ 東京 ünïcödé",
    "cjk": "東京の夏祭り、今年も開催決定\uff01限定グッズを手に入れよう",
    "cyrillic_greek": "Летняя распродажа — Καλοκαιρινές εκπτώσεις",
}
LOGOS: dict[str, tuple[int, int] | None] = {
    "wide": (400, 100),
    "tall": (100, 400),
    "square": (300, 300),
    "none": None,
}


def _boxes(layout: Layout) -> list[Box]:
    boxes = [layout.panel, layout.headline.box, *(ln.box for ln in layout.headline.lines)]
    if layout.cta is not None:
        boxes += [layout.cta.box, *(ln.box for ln in layout.cta.lines)]
    if layout.logo is not None:
        boxes.append(layout.logo)
    return boxes


def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("cta", [None, "Shop now"])
@pytest.mark.parametrize("logo_key", list(LOGOS))
@pytest.mark.parametrize("headline_key", list(HEADLINES))
@pytest.mark.parametrize("aspect", ["9:16", "1:1"])
@pytest.mark.parametrize("fmt", ["reel", "story", "tiktok"])
def test_layout_matrix(
    fmt: str, aspect: str, headline_key: str, logo_key: str, cta: str | None, measure: Measure
) -> None:
    width, height = output_size(aspect)
    headline = renderable_text(HEADLINES[headline_key], FontSet(48))  # as the compositor does
    logo_size = LOGOS[logo_key]
    layout = compute_layout(width, height, fmt, headline, cta, logo_size, measure)
    frame = Box(0, 0, width, height)

    assert layout.frame == frame
    assert frame.contains(layout.safe)
    for box in _boxes(layout):
        assert frame.contains(box), box
        assert layout.safe.contains(box), box

    # Text sits in the panel, lines fit their block, blocks do not collide.
    assert layout.panel.contains(layout.headline.box)
    scale = layout.type_scale
    assert scale == TypeScale.for_frame(width, height)
    assert scale.headline_min <= layout.headline.font_size <= scale.headline_max
    assert layout.headline.lines
    for line in layout.headline.lines:
        w, h = measure(line.text, layout.headline.font_size)
        assert line.text
        assert w <= layout.headline.box.width
        assert line.box.size == (w, h)
        assert layout.headline.box.contains(line.box)
    if cta is None:
        assert layout.cta is None
    else:
        assert layout.cta is not None
        assert layout.panel.contains(layout.cta.box)
        assert not layout.cta.box.intersects(layout.headline.box)
        assert scale.cta_min <= layout.cta.font_size <= scale.cta_max
        for line in layout.cta.lines:
            assert measure(line.text, layout.cta.font_size)[0] <= layout.cta.box.width
            assert layout.cta.box.contains(line.box)
    line_tops = [ln.box.top for ln in layout.headline.lines]
    assert line_tops == sorted(line_tops)
    for a, b in zip(layout.headline.lines, layout.headline.lines[1:], strict=False):
        assert not a.box.intersects(b.box)

    # Nothing is lost unless the layout says so (broken words keep every character).
    assert not layout.truncated
    assert _squash("".join(ln.text for ln in layout.headline.lines)) == _squash(headline)

    if logo_size is None:
        assert layout.logo is None
    else:
        logo = layout.logo
        assert logo is not None
        assert logo.top == layout.safe.top
        assert logo.left == layout.safe.left  # default corner: top-left
        assert logo.width <= round(0.18 * width)
        assert abs((logo.width / logo.height) / (logo_size[0] / logo_size[1]) - 1) <= 0.01
        assert not logo.intersects(layout.panel)


def test_short_headline_uses_max_size(measure: Measure) -> None:
    layout = compute_layout(1080, 1920, "reel", "Big news", None, None, measure)
    assert layout.headline.font_size == layout.type_scale.headline_max
    assert len(layout.headline.lines) == 1


def test_long_word_is_broken_only_at_min_size(measure: Measure) -> None:
    layout = compute_layout(1080, 1920, "reel", WORD_60, None, None, measure)
    assert layout.headline.font_size == layout.type_scale.headline_min
    assert len(layout.headline.lines) >= 2


def test_longer_text_never_gets_bigger_font(measure: Measure) -> None:
    sizes = [
        compute_layout(1080, 1920, "story", LONG_200[:n], "Learn more", (400, 100), measure).headline.font_size
        for n in (10, 40, 80, 200)
    ]
    assert sizes == sorted(sizes, reverse=True)


def test_short_layout_independent_of_logo(measure: Measure) -> None:
    with_logo = compute_layout(1080, 1920, "reel", "Big news", "Shop now", (400, 100), measure)
    without = compute_layout(1080, 1920, "reel", "Big news", "Shop now", None, measure)
    assert with_logo.panel == without.panel and with_logo.headline == without.headline


def test_right_corner_logo(measure: Measure) -> None:
    layout = compute_layout(1080, 1920, "tiktok", "Hi", None, (300, 300), measure, logo_corner="right")
    assert layout.logo is not None
    assert layout.logo.right == layout.safe.right and layout.logo.top == layout.safe.top


def test_absurdly_long_copy_is_truncated_inside_the_box(measure: Measure) -> None:
    text = " ".join(["lorem ipsum dolor sit amet"] * 80)
    cta = " ".join(["click here now"] * 20)
    layout = compute_layout(1080, 1080, "reel", text, cta, (100, 400), measure)
    assert layout.truncated
    assert layout.headline.font_size == layout.type_scale.headline_min
    assert layout.headline.lines[-1].text.endswith("\u2026")
    for box in _boxes(layout):
        assert layout.safe.contains(box)
    if layout.cta is not None:
        assert len(layout.cta.lines) <= 2


def test_empty_headline_rejected(measure: Measure) -> None:
    with pytest.raises(ValueError, match="headline"):
        compute_layout(1080, 1920, "reel", "  \n ", None, None, measure)


def test_unknown_format_rejected(measure: Measure) -> None:
    with pytest.raises(ValueError, match="platform format"):
        compute_layout(1080, 1920, "snapchat", "Hi", None, None, measure)


@pytest.mark.parametrize(
    ("src", "bounds"),
    [((400, 100), (194, 194)), ((100, 400), (194, 245)), ((1000, 999), (194, 194)), ((333, 77), (194, 138))],
)
def test_fit_logo_keeps_aspect(src: tuple[int, int], bounds: tuple[int, int]) -> None:
    w, h = fit_logo(*src, *bounds)
    assert w <= bounds[0] and h <= bounds[1]
    assert abs((w / h) / (src[0] / src[1]) - 1) <= 0.01
    assert max(w / bounds[0], h / bounds[1]) >= 0.95  # still fills the slot

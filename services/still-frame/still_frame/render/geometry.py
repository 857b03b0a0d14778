"""Integer pixel rectangles shared by the layout, the safe zones and the drawing code.

A :class:`Box` is half-open, like Pillow's crop boxes: it covers the pixels
``left <= x < right`` and ``top <= y < bottom``, so ``Box(0, 0, w, h)`` is a
whole ``w x h`` frame and a box can be passed directly to ``Image.crop``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned rectangle in integer pixel coordinates (half-open)."""

    left: int
    top: int
    right: int
    bottom: int

    def __post_init__(self) -> None:
        if self.right < self.left or self.bottom < self.top:
            raise ValueError(f"degenerate box {self.as_tuple()}")

    @classmethod
    def from_size(cls, left: int, top: int, width: int, height: int) -> Box:
        """Build a box from its top-left corner and its size."""
        return cls(left, top, left + width, top + height)

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``, the form Pillow expects."""
        return (self.left, self.top, self.right, self.bottom)

    def contains(self, other: Box) -> bool:
        """True when ``other`` lies entirely inside this box (edges included)."""
        return (
            self.left <= other.left
            and self.top <= other.top
            and other.right <= self.right
            and other.bottom <= self.bottom
        )

    def intersects(self, other: Box) -> bool:
        """True when the two boxes share at least one pixel."""
        return (
            self.left < other.right and other.left < self.right and self.top < other.bottom and other.top < self.bottom
        )

    def inset(self, dx: int, dy: int | None = None) -> Box:
        """Shrink by ``dx`` on the left/right and ``dy`` (default ``dx``) on top/bottom."""
        dy = dx if dy is None else dy
        return Box(self.left + dx, self.top + dy, self.right - dx, self.bottom - dy)

    def translate(self, dx: int, dy: int) -> Box:
        return Box(self.left + dx, self.top + dy, self.right + dx, self.bottom + dy)

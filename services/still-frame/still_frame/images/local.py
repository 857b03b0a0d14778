"""The local renderer: a deterministic brand-coloured background, no network and no key (the default)."""

from __future__ import annotations

import asyncio

from PIL import Image

from still_frame.images.base import ImageRequest
from still_frame.render import render_background


class LocalRenderer:
    """Gradients and soft shapes in the brand palette (see :mod:`still_frame.render.background`)."""

    name = "local"

    async def generate(self, request: ImageRequest) -> Image.Image:
        return await asyncio.to_thread(render_background, request.style, request.width, request.height, request.seed)

    async def aclose(self) -> None:
        return None

"""Image providers behind one interface: OpenAI, Azure OpenAI (both through the ``openai`` library) or local.

:func:`~still_frame.images.factory.build_image_provider` picks one from the settings.
"""

from .base import (
    ImageProvider,
    ImageProviderError,
    ImageProviderUnavailable,
    ImageRefused,
    ImageRequest,
)

__all__ = ["ImageProvider", "ImageProviderError", "ImageProviderUnavailable", "ImageRefused", "ImageRequest"]

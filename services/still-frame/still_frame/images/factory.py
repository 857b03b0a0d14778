"""Choose and build the image provider from the settings (the only place that constructs clients)."""

from __future__ import annotations

import httpx2
import openai

from still_frame.images.base import ImageProvider
from still_frame.images.local import LocalRenderer
from still_frame.images.openai_provider import OpenAIImages
from still_frame.settings import StillFrameSettings


def build_image_provider(settings: StillFrameSettings) -> ImageProvider:
    """OpenAI, Azure OpenAI or the local renderer, per :attr:`StillFrameSettings.resolved_image_provider`."""
    choice = settings.resolved_image_provider
    timeout = httpx2.Timeout(settings.image_timeout_s, connect=10.0)
    if choice == "azure":
        assert settings.azure_image_endpoint and settings.azure_image_api_key  # checked by the settings
        azure = openai.AsyncAzureOpenAI(
            azure_endpoint=settings.azure_image_endpoint,
            api_key=settings.azure_image_api_key.get_secret_value(),
            api_version=settings.azure_image_api_version,
            max_retries=settings.image_max_retries,
            timeout=timeout,
        )
        # Azure routes by deployment: the client puts `model` into /openai/deployments/{model}/...
        return OpenAIImages(
            azure,
            name="azure-openai",
            model=settings.azure_image_deployment,
            quality=settings.image_quality,
            gpt_image=settings.azure_image_model.startswith("gpt-image"),
        )
    if choice == "openai":
        assert settings.openai_api_key
        client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            max_retries=settings.image_max_retries,
            timeout=timeout,
        )
        return OpenAIImages(client, name="openai", model=settings.openai_image_model, quality=settings.image_quality)
    return LocalRenderer()

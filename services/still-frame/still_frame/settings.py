"""Still-frame settings (environment): bus, object storage and the image provider.

``IMAGE_PROVIDER`` picks the provider: ``auto`` (default) uses Azure OpenAI when ``AZURE_IMAGE_ENDPOINT``
and ``AZURE_IMAGE_API_KEY`` are set, else OpenAI when ``OPENAI_API_KEY`` is set, else the local
renderer, so a machine without keys needs no paid API.  Naming a provider explicitly without its
credentials stops the service at start.

Brand text: ``TEXT_OVERLAY`` is ``after_animation`` (default: the clean image is animated, the text panel and logo
travel as a transparent overlay that media-store blends onto every frame) or ``baked`` (the composited still is
animated, text and all, for brands that want the text to move with the scene).

Liveness: while a still is made, the handler heartbeats the consumer (its ack wait is 60 s in the topology) and
renews its run claim every ``still_frame_heartbeat_s``; a claim not renewed for ``still_frame_claim_lease_s`` is taken
over by the next delivery (a crashed worker). One image call is at most ``image_timeout_s`` per attempt times
``image_max_retries + 1`` attempts (8 minutes by default): the heartbeat, not the ack wait, covers it. A shutdown waits
``shutdown_grace_s`` for a running still (one attempt and compositing), then hands the request back.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from svd.settings import BaseServiceSettings, SpacesSettings

ProviderName = Literal["openai", "azure", "local"]
TextOverlay = Literal["after_animation", "baked"]


class StillFrameSettings(BaseServiceSettings, SpacesSettings):
    image_provider: Literal["auto", "openai", "azure", "local"] = "auto"
    text_overlay: TextOverlay = Field(
        default="after_animation",
        description="after_animation: the provider animates the clean image and media-store blends the text panel and"
        " logo onto every frame (text never warps); baked: the provider animates the composited still",
    )
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(default=None, description="default: the client's (api.openai.com/v1)")
    openai_image_model: str = "gpt-image-1"
    image_quality: Literal["low", "medium", "high", "auto"] = "medium"
    azure_image_endpoint: str | None = None
    azure_image_api_key: SecretStr | None = None
    azure_image_deployment: str = "gpt-image-1"
    azure_image_model: str = Field(default="gpt-image-1", description="the model behind the deployment")
    azure_image_api_version: str = "2025-04-01-preview"
    image_max_retries: int = Field(default=3, ge=0, le=10, description="retries after the first attempt")
    image_timeout_s: float = Field(default=120.0, gt=0, description="per attempt")
    still_frame_heartbeat_s: float = Field(default=20.0, gt=0, description="a third of the consumer's ack wait")
    still_frame_claim_lease_s: float = Field(default=60.0, gt=0, description="an unrenewed claim expires after this")
    still_frame_retry_s: float = Field(
        default=15.0, gt=0, description="retry delay while the provider or the store is down, or another worker paints"
    )
    shutdown_grace_s: float = Field(default=150.0, gt=0, description="one image attempt and compositing")

    @property
    def resolved_image_provider(self) -> ProviderName:
        if self.image_provider != "auto":
            return self.image_provider
        if self.azure_image_endpoint and self.azure_image_api_key:
            return "azure"
        if self.openai_api_key:
            return "openai"
        return "local"

    @model_validator(mode="after")
    def _credentials_present(self) -> StillFrameSettings:
        if self.image_provider == "openai" and not self.openai_api_key:
            raise ValueError("IMAGE_PROVIDER=openai needs OPENAI_API_KEY")
        if self.image_provider == "azure" and not (self.azure_image_endpoint and self.azure_image_api_key):
            raise ValueError("IMAGE_PROVIDER=azure needs AZURE_IMAGE_ENDPOINT and AZURE_IMAGE_API_KEY")
        if self.still_frame_claim_lease_s < 2 * self.still_frame_heartbeat_s:
            # One late renewal must not hand a live run to a second worker.
            raise ValueError("STILL_FRAME_CLAIM_LEASE_S must be at least twice STILL_FRAME_HEARTBEAT_S")
        return self

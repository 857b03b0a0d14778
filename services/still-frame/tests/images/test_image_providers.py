"""Image providers: selection by configuration, and the OpenAI / Azure adapters through the simulator."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from still_frame.images import ImageProviderError, ImageProviderUnavailable, ImageRefused, ImageRequest
from still_frame.images.factory import build_image_provider
from still_frame.images.local import LocalRenderer
from still_frame.images.openai_provider import OpenAIImages, request_size
from still_frame.render import BrandStyle, compose_still
from still_frame.settings import StillFrameSettings
from svd_stack.checks import plain_http

STYLE = BrandStyle(primary="#1E3A8A", secondary="#9333EA", accent="#F59E0B")
BASE = {
    "nats_url": "nats://127.0.0.1:1",
    "do_spaces_key": "k",
    "do_spaces_secret": "s",
    "do_spaces_bucket": "b",
    "do_spaces_endpoint": "http://127.0.0.1:1",
}
REQUEST = ImageRequest("A calm beach at dawn, deep blue (#1E3A8A)", 1080, 1920, STYLE, seed="post-1:0")


def _settings(**values: object) -> StillFrameSettings:
    return StillFrameSettings(**{**BASE, **values})  # type: ignore[arg-type]


def _faults(sim: str, **config: object) -> None:
    assert plain_http().post(f"{sim}/_sim/openai/faults", json=config).status_code == 200


def _requests(sim: str) -> list[dict]:
    return plain_http().get(f"{sim}/_sim/openai/requests").json()["requests"]


def _openai(sim: str, **values: object) -> OpenAIImages:
    provider = build_image_provider(
        _settings(**{"openai_api_key": "sk-sim", "openai_base_url": f"{sim}/v1", "image_max_retries": 3, **values})
    )
    assert isinstance(provider, OpenAIImages)
    return provider


def test_selection_by_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "AZURE_IMAGE_ENDPOINT", "AZURE_IMAGE_API_KEY", "IMAGE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(build_image_provider(_settings()), LocalRenderer)  # no key: local by default
    assert build_image_provider(_settings(openai_api_key="sk")).name == "openai"
    azure = _settings(openai_api_key="sk", azure_image_endpoint="https://x.openai.azure.com", azure_image_api_key="a")
    assert build_image_provider(azure).name == "azure-openai"  # Azure wins when configured
    assert isinstance(build_image_provider(_settings(openai_api_key="sk", image_provider="local")), LocalRenderer)
    with pytest.raises(ValidationError, match="OPENAI_API_KEY"):
        _settings(image_provider="openai")
    with pytest.raises(ValidationError, match="AZURE_IMAGE_ENDPOINT"):
        _settings(image_provider="azure", azure_image_endpoint="https://x")


def test_request_sizes() -> None:
    assert request_size(1080, 1920) == "1024x1536"
    assert request_size(1080, 1080) == "1024x1024"
    assert request_size(1920, 1080) == "1536x1024"


async def test_local_renderer_is_deterministic() -> None:
    local = LocalRenderer()
    a, b = await local.generate(REQUEST), await local.generate(REQUEST)
    assert a.size == (1080, 1920) and a.tobytes() == b.tobytes()


async def test_openai_generates_portrait_and_still_is_cover_cropped(sim: str) -> None:
    provider = _openai(sim)
    try:
        image = await provider.generate(REQUEST)
    finally:
        await provider.aclose()
    assert image.size == (1024, 1536)
    (logged,) = _requests(sim)
    assert (logged["model"], logged["size"], logged["quality"]) == ("gpt-image-1", "1024x1536", "medium")
    assert logged["prompt"] == REQUEST.prompt and logged["response_format"] is None
    still = compose_still(image, style=STYLE, headline="Hi", cta=None, logo_png=None, platform_format="reel")
    assert still.size == (1080, 1920)  # 1024x1536 scaled by 1.25 and centre-cropped, never stretched


async def test_azure_through_the_library_azure_client(sim: str) -> None:
    provider = build_image_provider(
        _settings(azure_image_endpoint=sim, azure_image_api_key="az-key", azure_image_deployment="brand-images")
    )
    try:
        image = await provider.generate(ImageRequest("square", 1080, 1080, STYLE, seed="s"))
    finally:
        await provider.aclose()
    assert provider.name == "azure-openai" and image.size == (1024, 1024)
    (logged,) = _requests(sim)
    assert logged["path"] == "/openai/deployments/brand-images/images/generations"
    assert logged["api_version"] == "2025-04-01-preview"


async def test_refusal_is_not_retried_and_says_why(sim: str) -> None:
    _faults(sim, refusals=1)
    provider = _openai(sim)
    with pytest.raises(ImageRefused, match=r"^Your request was rejected as a result of our safety system") as caught:
        await provider.generate(REQUEST)
    assert caught.value.code == "content_policy_violation" and caught.value.provider == "openai"
    await provider.aclose()
    assert len(_requests(sim)) == 1


async def test_429_storm_within_retries_recovers(sim: str) -> None:
    _faults(sim, status=429, status_count=3, retry_after_ms=20)
    provider = _openai(sim)
    assert (await provider.generate(REQUEST)).size == (1024, 1536)
    await provider.aclose()
    assert len(_requests(sim)) == 4


async def test_429_storm_exhausts_retries(sim: str) -> None:
    _faults(sim, status=429, status_count=100, retry_after_ms=20)
    provider = _openai(sim, image_max_retries=2)
    with pytest.raises(ImageProviderUnavailable, match=r"still failing after 3 attempts: rate limited \(HTTP 429\)"):
        await provider.generate(REQUEST)
    await provider.aclose()
    assert len(_requests(sim)) == 3


async def test_5xx_exhausted_and_timeouts(sim: str) -> None:
    _faults(sim, status=502, status_count=100, retry_after_ms=10)
    provider = _openai(sim, image_max_retries=1)
    with pytest.raises(ImageProviderUnavailable, match=r"after 2 attempts: HTTP 502"):
        await provider.generate(REQUEST)
    await provider.aclose()
    _faults(sim, status_count=0, status=500, delay_s=3, delay_count=1)  # storm off, one slow answer
    slow = _openai(sim, image_max_retries=0, image_timeout_s=0.5)
    with pytest.raises(ImageProviderUnavailable, match="timed out on all 1 attempts"):
        await slow.generate(REQUEST)
    await slow.aclose()


async def test_invalid_request_is_a_permanent_error(sim: str) -> None:
    provider = _openai(sim, openai_image_model="dall-e-2")
    with pytest.raises(ImageProviderError, match=r"rejected the request \(HTTP 400\)") as caught:
        await provider.generate(REQUEST)
    assert not isinstance(caught.value, ImageRefused | ImageProviderUnavailable)
    await provider.aclose()

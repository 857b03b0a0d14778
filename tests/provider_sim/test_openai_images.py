"""OpenAI images in the simulator, driven by the real `openai` client over HTTP (OpenAI and Azure paths)."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import AsyncIterator, Iterator

import openai
import pytest
from PIL import Image

from svd_stack.checks import plain_http

PROMPT = "A calm beach at dawn. Colour palette: deep blue (#1E3A8A) as dominant, bright orange (#F59E0B) as accent."


@pytest.fixture(autouse=True)
def clean_faults(sim_url: str) -> Iterator[None]:
    plain_http().delete(f"{sim_url}/_sim/openai/faults")
    plain_http().delete(f"{sim_url}/_sim/openai/requests")
    yield
    plain_http().delete(f"{sim_url}/_sim/openai/faults")


@pytest.fixture
async def client(sim_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(api_key="sk-sim", base_url=f"{sim_url}/v1", max_retries=3, timeout=30) as c:
        yield c


def _faults(sim_url: str, **config: object) -> None:
    response = plain_http().post(f"{sim_url}/_sim/openai/faults", json=config)
    assert response.status_code == 200, response.text


def _requests(sim_url: str) -> list[dict]:
    return plain_http().get(f"{sim_url}/_sim/openai/requests").json()["requests"]


def _image(b64: str | None) -> Image.Image:
    assert b64
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


async def test_generate_gpt_image_portrait_b64(client: openai.AsyncOpenAI, sim_url: str) -> None:
    result = await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1536", quality="medium")
    assert result.data and len(result.data) == 1
    image = _image(result.data[0].b64_json)
    assert image.format == "PNG" and image.size == (1024, 1536)
    assert result.size == "1024x1536" and result.output_format == "png" and result.usage is not None
    # Painted in the prompt's colours: some pixel is close to the brand blue.
    colours = {c for _, c in image.convert("RGB").resize((64, 96)).getcolors(64 * 96) or []}
    assert any(abs(r - 0x1E) + abs(g - 0x3A) + abs(b - 0x8A) < 60 for r, g, b in colours)
    (logged,) = _requests(sim_url)
    assert logged["model"] == "gpt-image-1" and logged["size"] == "1024x1536" and logged["prompt"] == PROMPT
    assert logged["azure"] is False


async def test_same_prompt_same_pixels(client: openai.AsyncOpenAI) -> None:
    a = await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1024")
    b = await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1024")
    assert a.data and b.data and a.data[0].b64_json == b.data[0].b64_json


async def test_azure_deployment_path(sim_url: str) -> None:
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=sim_url, api_key="azure-sim-key", api_version="2025-04-01-preview", max_retries=0
    ) as azure:
        result = await azure.images.generate(model="my-image-deployment", prompt=PROMPT, size="1024x1536")
    assert result.data and _image(result.data[0].b64_json).size == (1024, 1536)
    (logged,) = _requests(sim_url)
    assert logged["path"] == "/openai/deployments/my-image-deployment/images/generations"
    assert logged["azure"] is True and logged["api_version"] == "2025-04-01-preview"


async def test_refusal_is_400_content_policy_violation_not_retried(client: openai.AsyncOpenAI, sim_url: str) -> None:
    _faults(sim_url, refusals=1)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1536")
    assert caught.value.status_code == 400 and caught.value.code == "content_policy_violation"
    assert "safety system" in caught.value.message
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    assert len(_requests(sim_url)) == 1  # the client does not retry a refusal
    # The fault is used up: the next request succeeds.
    assert (await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1536")).data


def test_moderation_blocked_body_as_gpt_image_returns_it(sim_url: str) -> None:
    _faults(sim_url, refusals=1, refusal_code="moderation_blocked")
    raw = plain_http().post(
        f"{sim_url}/v1/images/generations",
        headers={"Authorization": "Bearer sk-sim"},
        json={"model": "gpt-image-1", "prompt": PROMPT},
    )
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert error["code"] == "moderation_blocked" and error["type"] == "image_generation_user_error"
    assert error["param"] is None and raw.headers["x-request-id"] in error["message"]


async def test_429_storm_shorter_than_retries_recovers(client: openai.AsyncOpenAI, sim_url: str) -> None:
    _faults(sim_url, status=429, status_count=2, retry_after_ms=50)
    started = time.monotonic()
    result = await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1536")
    assert result.data
    assert len(_requests(sim_url)) == 3  # two 429s, then success
    assert time.monotonic() - started < 5  # the client honoured retry-after-ms instead of its own backoff


async def test_429_storm_exhausts_retries(client: openai.AsyncOpenAI, sim_url: str) -> None:
    _faults(sim_url, status=429, status_count=50, retry_after=0.05)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1536")
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "0.05"
    assert len(_requests(sim_url)) == 4  # first attempt + max_retries=3


async def test_5xx_then_success(client: openai.AsyncOpenAI, sim_url: str) -> None:
    _faults(sim_url, status=503, status_count=1, retry_after_ms=10)
    assert (await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1024")).data
    assert len(_requests(sim_url)) == 2


async def test_slow_answer_times_out(sim_url: str) -> None:
    _faults(sim_url, delay_s=2, delay_count=1)
    async with openai.AsyncOpenAI(api_key="k", base_url=f"{sim_url}/v1", max_retries=0, timeout=0.5) as c:
        with pytest.raises(openai.APITimeoutError):
            await c.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1536")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "gpt-image-1", "prompt": PROMPT, "size": "1080x1920"}, "size"),
        ({"model": "gpt-image-1", "prompt": ""}, "prompt"),
        ({"model": "gpt-image-1", "prompt": PROMPT, "response_format": "url"}, "response_format"),
        ({"model": "gpt-image-1", "prompt": PROMPT, "quality": "ultra"}, "quality"),
    ],
)
def test_invalid_requests(sim_url: str, body: dict, param: str) -> None:
    raw = plain_http().post(f"{sim_url}/v1/images/generations", headers={"Authorization": "Bearer sk"}, json=body)
    assert raw.status_code == 400 and raw.json()["error"]["param"] == param


def test_auth_required(sim_url: str) -> None:
    raw = plain_http().post(f"{sim_url}/v1/images/generations", json={"model": "gpt-image-1", "prompt": PROMPT})
    assert raw.status_code == 401 and "API key" in raw.json()["error"]["message"]
    azure = plain_http().post(
        f"{sim_url}/openai/deployments/d/images/generations", headers={"api-key": "k"}, json={"prompt": PROMPT}
    )
    assert azure.status_code == 404  # no api-version


def test_fault_config_validated(sim_url: str) -> None:
    bad = plain_http().post(f"{sim_url}/_sim/openai/faults", json={"status": 200})
    assert bad.status_code == 400
    _faults(sim_url, status=429, status_count=2)
    assert plain_http().get(f"{sim_url}/_sim/openai/faults").json()["faults"]["status_left"] == 2

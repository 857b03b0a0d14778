"""Runway's models as they are today: the table, which model makes which clip, the submit body and the fallbacks
(pure; the body is read off `httpx.MockTransport`)."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import ValidationError

from video_gateway.providers.base import ErrorKind, ProviderError, SubmitRequest
from video_gateway.providers.kling import KlingProvider
from video_gateway.providers.runway import RunwayProvider
from video_gateway.providers.runway_models import MODELS, choose
from video_gateway.selection import fails_over
from video_gateway.settings import GatewaySettings

BASE = {
    "nats_url": "nats://127.0.0.1:1",
    "database_url": "postgresql://u:p@127.0.0.1:1/db",
    "do_spaces_key": "k",
    "do_spaces_secret": "s",
    "do_spaces_bucket": "b",
    "do_spaces_endpoint": "http://127.0.0.1:1",
}


@pytest.mark.parametrize(
    ("name", "aspect", "ratio"),
    [
        ("gen4_turbo", "9:16", "720:1280"),  # the largest portrait gen4 renders
        ("gen4_turbo", "1:1", "960:960"),
        ("gen4.5", "9:16", "720:1280"),
        ("gen4.5", "1:1", "960:960"),
        ("veo3.1", "9:16", "1080:1920"),  # the native deliverable size
        ("veo3.1_fast", "9:16", "1080:1920"),
        ("veo3.1", "1:1", None),  # Veo has no square
    ],
)
def test_the_ratio_is_the_largest_of_the_deliverables_shape(name: str, aspect: str, ratio: str | None) -> None:
    assert MODELS[name].ratio_for(aspect) == ratio


@pytest.mark.parametrize(
    ("name", "seconds", "duration"),
    [
        ("gen4_turbo", 5, 5),
        ("gen4_turbo", 10, 10),
        ("gen4.5", 5, 5),
        ("gen4.5", 10, 10),
        ("veo3.1", 5, 6),  # 4/6/8 only: 6 s, cut to 5 by media-store
        ("veo3.1", 10, None),  # nothing as long
        ("veo3", 5, 8),
    ],
)
def test_a_duration_the_model_lacks_is_the_shortest_longer_one_or_none(
    name: str, seconds: int, duration: int | None
) -> None:
    assert MODELS[name].duration_for(seconds) == duration


def test_the_table_holds_the_real_facts() -> None:
    assert {name: m.fps for name, m in MODELS.items()} == dict.fromkeys(MODELS, 24)
    assert MODELS["gen4_turbo"].credits_per_second == (5, 5) and MODELS["gen4.5"].credits_per_second == (12, 12)
    assert MODELS["veo3.1"].credits_per_second == (20, 40) and MODELS["veo3.1"].audio
    assert MODELS["gen4.5"].prompt_text_required and not MODELS["gen4_turbo"].audio
    assert "1080:1920" not in MODELS["gen4_turbo"].ratios and "1080:1920" in MODELS["veo3.1"].ratios


def test_the_first_configured_model_that_can_make_the_clip_is_chosen() -> None:
    veo_then_gen4 = (MODELS["veo3.1"], MODELS["gen4_turbo"])
    portrait = choose(veo_then_gen4, 5, "9:16")
    assert not isinstance(portrait, str)
    assert (portrait.model.name, portrait.ratio, portrait.duration) == ("veo3.1", "1080:1920", 6)
    long = choose(veo_then_gen4, 10, "9:16")  # veo3.1 has no 10 s clip
    assert not isinstance(long, str) and (long.model.name, long.ratio, long.duration) == ("gen4_turbo", "720:1280", 10)
    square = choose(veo_then_gen4, 5, "1:1")
    assert not isinstance(square, str) and (square.model.name, square.ratio) == ("gen4_turbo", "960:960")
    none = choose((MODELS["veo3.1"],), 10, "1:1")
    assert none == (
        "no configured Runway model can make a 10 s 1:1 clip: veo3.1 has no 1:1 ratio "
        "(it renders 1280:720, 720:1280, 1080:1920, 1920:1080) and no 10 s clip (it renders 4/6/8 s)"
    )


def _runway(*names: str, sent: list[dict] | None = None) -> RunwayProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        if sent is not None:
            sent.append(json.loads(request.content))
        return httpx.Response(200, json={"id": "task-1"})

    http = httpx.AsyncClient(base_url="https://runway.test", transport=httpx.MockTransport(handler))
    return RunwayProvider(http, models=tuple(MODELS[n] for n in names), version="2024-11-06")


@pytest.mark.parametrize(
    ("names", "seconds", "aspect", "expected"),
    [
        (("gen4_turbo",), 5, "9:16", {"model": "gen4_turbo", "ratio": "720:1280", "duration": 5}),
        (("gen4_turbo",), 10, "1:1", {"model": "gen4_turbo", "ratio": "960:960", "duration": 10}),
        (("veo3.1",), 5, "9:16", {"model": "veo3.1", "ratio": "1080:1920", "duration": 6, "audio": False}),
        (("veo3.1", "gen4.5"), 10, "9:16", {"model": "gen4.5", "ratio": "720:1280", "duration": 10}),
    ],
)
async def test_the_submit_asks_for_the_chosen_model_ratio_and_duration(
    names: tuple[str, ...], seconds: int, aspect: str, expected: dict
) -> None:
    sent: list[dict] = []
    runway = _runway(*names, sent=sent)
    assert await runway.submit(SubmitRequest("data:image/png;base64,AA==", "Slow zoom in.", seconds, aspect), "k")
    ((body,),) = [sent]
    assert {k: body[k] for k in expected} == expected
    assert body["promptText"] == "Slow zoom in." and body["promptImage"].startswith("data:image/png")
    assert ("audio" in body) is ("audio" in expected)


async def test_veo_sound_is_asked_for_only_when_the_clip_keeps_it() -> None:
    sent: list[dict] = []
    await _runway("veo3.1", sent=sent).submit(SubmitRequest("https://x/y.png", "Zoom.", 5, "9:16", True), "k")
    assert sent[0]["audio"] is True


async def test_a_clip_no_configured_model_can_make_is_never_sent_and_fails_over() -> None:
    sent: list[dict] = []
    runway = _runway("veo3.1", sent=sent)
    request = SubmitRequest("https://x/y.png", "Zoom.", 10, "9:16")
    with pytest.raises(ProviderError) as caught:
        runway.check(request)
    assert caught.value.kind is ErrorKind.UNSUPPORTED and "veo3.1 has no 10 s clip" in caught.value.message
    assert fails_over(caught.value)  # to Kling: nothing was sent to Runway
    with pytest.raises(ProviderError):
        await runway.submit(request, "k")
    assert sent == []


def test_kling_makes_5_and_10_s_clips_in_the_images_aspect() -> None:
    kling = KlingProvider(httpx.AsyncClient(), negative_prompt="", cfg_scale=0.5, timeout_s=5)
    for aspect in ("9:16", "1:1"):
        request = SubmitRequest("https://x/y.png", "Zoom.", 10, aspect)
        kling.check(request)
        assert "aspect_ratio" not in kling.arguments(request)  # the output follows the input image
    with pytest.raises(ProviderError) as caught:
        kling.check(SubmitRequest("https://x/y.png", "Zoom.", 7, "9:16"))
    assert caught.value.kind is ErrorKind.UNSUPPORTED
    assert kling.arguments(SubmitRequest("https://x/y.png", "Zoom.", 5, "9:16", True))["image_url"] == "https://x/y.png"


@pytest.mark.parametrize("with_audio", [False, True])
def test_kling_v2_6_is_told_whether_to_make_sound(with_audio: bool) -> None:
    kling = KlingProvider(
        httpx.AsyncClient(),
        endpoint="fal-ai/kling-video/v2.6/pro/image-to-video",
        negative_prompt="",
        cfg_scale=0.5,
        timeout_s=5,
    )
    arguments = kling.arguments(SubmitRequest("https://x/y.png", "Zoom.", 5, "9:16", with_audio))
    assert arguments["start_image_url"] == "https://x/y.png" and "image_url" not in arguments
    assert arguments["generate_audio"] is with_audio  # its default is true, at twice the price


def test_the_runway_models_are_settings_checked_against_the_table() -> None:
    settings = GatewaySettings(**BASE, runway_model="veo3.1", runway_fallback_models="gen4_turbo, veo3.1")  # type: ignore[arg-type]
    assert [m.name for m in settings.runway_models()] == ["veo3.1", "gen4_turbo"]
    assert [m.name for m in GatewaySettings(**BASE).runway_models()] == ["gen4_turbo"]  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown Runway model 'gen3a_turbo'"):
        GatewaySettings(**BASE, runway_model="gen3a_turbo")  # type: ignore[arg-type]

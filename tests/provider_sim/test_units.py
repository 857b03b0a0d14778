"""Pure units: request validation, URL signing, fault counters, task JSON shape."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from provider_sim.fal_validation import FalInputError, parse_kling_input
from provider_sim.faults import FaultConfig, FaultPlan, TaskFaults
from provider_sim.journal import classify
from provider_sim.outputs import OutputSigner
from provider_sim.render_cache import RenderCache, cache_key, render_key
from provider_sim.tasks import TaskStatus, TaskStore
from provider_sim.validation import ImageToVideoRequest, RequestValidationError, parse_image_to_video

PNG_URI = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()


def parse(body: object, strict: bool = False) -> ImageToVideoRequest:
    return parse_image_to_video(body, strict_ratios=strict, max_data_uri_bytes=1024)


def test_valid_request_defaults_to_the_models_duration() -> None:
    req = parse({"model": "veo3.1_fast", "promptImage": "https://cdn.example/x.png", "ratio": "1080:1920"})
    assert req.duration == 8 and (req.fps, req.audio) == (24, False)
    assert (req.width, req.height) == (1080, 1920)
    assert parse({"model": "gen4_turbo", "promptImage": PNG_URI, "ratio": "720:1280"}).duration == 10


@pytest.mark.parametrize(
    ("model", "duration", "ok"),
    [
        ("gen4_turbo", 5, True),
        ("gen4_turbo", 10, True),
        ("gen4_turbo", 6, False),
        ("gen4.5", 7, True),
        ("veo3.1", 6, True),
        ("veo3.1", 5, False),  # 4/6/8 only
        ("veo3.1_fast", 10, False),
        ("veo3", 6, False),  # 8 only
    ],
)
def test_each_model_takes_its_own_durations(model: str, duration: int, ok: bool) -> None:
    body = {"model": model, "promptImage": PNG_URI, "ratio": "720:1280", "duration": duration}
    if ok:
        assert parse(body).duration == duration
    else:
        with pytest.raises(RequestValidationError) as info:
            parse(body)
        assert [issue["path"] for issue in info.value.issues] == [["duration"]]


def test_only_veo_generates_sound() -> None:
    veo = {"model": "veo3.1", "promptImage": PNG_URI, "ratio": "1080:1920", "duration": 6}
    assert parse({**veo, "audio": True}).audio and not parse(veo).audio
    with pytest.raises(RequestValidationError) as info:
        parse({"model": "gen4_turbo", "promptImage": PNG_URI, "ratio": "720:1280", "audio": True})
    assert [issue["path"] for issue in info.value.issues] == [["audio"]]


def test_list_prompt_image_prefers_first() -> None:
    req = parse(
        {
            "model": "gen3a_turbo",
            "ratio": "768:1280",
            "promptImage": [
                {"uri": "https://x/last.png", "position": "last"},
                {"uri": PNG_URI, "position": "first"},
            ],
        }
    )
    assert req.prompt_image == PNG_URI


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"promptText": "x" * 1001}, ["promptText"]),
        ({"duration": 5.5}, ["duration"]),
        ({"duration": True}, ["duration"]),
        ({"promptImage": "data:image/png;base64,!!!"}, ["promptImage"]),
        ({"promptImage": "data:image/png;base64," + "A" * 4000}, ["promptImage"]),
        ({"promptImage": [{"uri": PNG_URI, "position": "middle"}]}, ["promptImage", 0, "position"]),
        ({"model": None}, ["model"]),
    ],
)
def test_invalid_fields(patch: dict[str, object], path: list[object]) -> None:
    body = {"model": "gen4_turbo", "promptImage": PNG_URI, "ratio": "720:1280", **patch}
    with pytest.raises(RequestValidationError) as info:
        parse(body)
    assert [issue["path"] for issue in info.value.issues] == [path]


def test_strict_ratios_follow_model_table() -> None:
    body = {"model": "gen4_turbo", "promptImage": PNG_URI, "ratio": "1080:1920"}
    parse(body)
    with pytest.raises(RequestValidationError):
        parse(body, strict=True)
    parse({**body, "ratio": "720:1280"}, strict=True)


def test_signed_urls_expire() -> None:
    signer = OutputSigner(b"secret", "http://sim:1/", ttl_s=60)
    url = signer.url_for("abc.mp4", now=1000)
    assert url.startswith("http://sim:1/outputs/abc.mp4?exp=1060&sig=")
    sig = url.rsplit("sig=", 1)[1]
    assert signer.check("abc.mp4", "1060", sig, now=1059) is None
    assert signer.check("abc.mp4", "1060", sig, now=1061) == "Request has expired"
    assert signer.check("abd.mp4", "1060", sig, now=1000) == "Invalid signature"
    assert signer.check("abc.mp4", "1061", sig, now=1000) == "Invalid signature"
    assert signer.check("abc.mp4", None, sig, now=1000) is not None


def test_fault_groups_count_down_independently() -> None:
    plan = FaultPlan()
    plan.apply(FaultConfig(submit_status=429, submit_count=2, retry_after=3))
    plan.apply(FaultConfig(task_outcome="FAILED"))
    first = plan.take_submit_fault()
    assert first is not None and (first.status, first.retry_after) == (429, 3)
    assert plan.take_submit_fault() is not None
    assert plan.take_submit_fault() is None
    faults = plan.take_task_faults()
    assert faults.failure_code == "INTERNAL.BAD_OUTPUT.CODE01" and faults.failure
    assert plan.take_task_faults().failure_code is None
    plan.apply(FaultConfig(status_error=500, status_error_count=5))
    plan.reset()
    assert plan.snapshot() == []


def test_render_cache_links_identical_renders(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache")
    key = cache_key(b"image", "zoom in", 5, 720, 1280)
    assert key != cache_key(b"image", "zoom out", 5, 720, 1280)
    assert key != cache_key(b"image", "zoom in", 10, 720, 1280)
    assert key != cache_key(b"image", "zoom in", 5, 720, 1280, fps=30)  # Kling's render is not Runway's
    assert key != cache_key(b"image", "zoom in", 5, 720, 1280, audio=True)
    first = tmp_path / "a.mp4"
    assert not cache.fetch(key, first)
    first.write_bytes(b"mp4 bytes")
    cache.store(key, first)
    first.unlink()  # a deleted task output leaves the cache entry
    second = tmp_path / "b.mp4"
    assert cache.fetch(key, second) and second.read_bytes() == b"mp4 bytes" and cache.hits == 1
    assert not RenderCache(tmp_path / "cache", enabled=False).fetch(key, tmp_path / "c.mp4")


def test_a_format_scoped_cache_shares_one_render_per_format_whatever_the_picture() -> None:
    def key(scope: str, image: bytes, prompt: str, duration: int = 5, fps: int = 24, audio: bool = False) -> str:
        return render_key(scope, image, prompt, duration, 720, 1280, fps, audio)

    assert key("inputs", b"one still", "zoom in") != key("inputs", b"another still", "pan left")
    assert key("format", b"one still", "zoom in") == key("format", b"another still", "pan left")
    assert key("format", b"one still", "zoom in") != key("format", b"one still", "zoom in", duration=10)
    assert key("format", b"one still", "zoom in") != key("format", b"one still", "zoom in", fps=30)
    assert key("format", b"one still", "zoom in") != key("format", b"one still", "zoom in", audio=True)


def test_targeted_faults_most_specific_first_and_scoped() -> None:
    plan = FaultPlan()
    plan.apply(FaultConfig(status_error=500, status_error_count=5))
    plan.apply(FaultConfig.model_validate({"provider": "kling", "key": "k1", "status_error": 429, "retry_after": 4}))
    plan.apply(FaultConfig(provider="runway", submit_status=503))
    assert plan.take_submit_fault("fal", "k1") is None
    taken = plan.take_status_fault("fal", "k1", "t1")
    assert taken is not None and (taken.status, taken.retry_after) == (429, 4)
    again = plan.take_status_fault("fal", "k1", "t1")
    assert again is not None and again.status == 500
    submit = plan.take_submit_fault("runway", "any")
    assert submit is not None and submit.status == 503
    plan.apply(FaultConfig(provider="fal", slow_seconds=3, never_finish=True, expired_output=True))
    assert plan.take_task_faults("runway").task_seconds == 0
    faults = plan.take_task_faults("fal", "k2")
    assert (faults.task_seconds, faults.never_finish, faults.expired_output) == (3, True, True)
    assert [f["fault"] for f in plan.snapshot()] == ["status"]


def test_kling_input_defaults_and_errors() -> None:
    request, parsed = parse_kling_input(
        {"prompt": "p", "image_url": PNG_URI}, "fal-ai/kling-video/v1.6/pro/image-to-video"
    )
    # v1.6 pro is the one endpoint that takes aspect_ratio (16:9 by default), at about 1080p.
    assert (request.duration, request.width, request.height, request.fps) == (5, 1920, 1080, 30)
    assert request.frame_size(1080, 1920) == (1920, 1080)
    assert parsed.negative_prompt and parsed.cfg_scale == 0.5
    # Elsewhere the output follows the input image's aspect, about 720p on standard; aspect_ratio is ignored.
    vertical, _ = parse_kling_input(
        {"prompt": "p", "image_url": PNG_URI, "duration": "10", "aspect_ratio": "16:9"},
        "fal-ai/kling-video/v1.6/standard/image-to-video",
    )
    assert (vertical.duration, vertical.fps, vertical.audio) == (10, 30, False)
    assert vertical.frame_size(1080, 1920) == (720, 1280)
    assert vertical.frame_size(1024, 1024) == (720, 720)
    assert vertical.frame_size(1024, 1536) == (720, 1080)
    with pytest.raises(FalInputError) as caught:
        parse_kling_input({"image_url": 3, "cfg_scale": "high"}, "x/y")
    locs = {tuple(item["loc"]) for item in caught.value.detail}
    assert locs == {("body", "prompt"), ("body", "image_url"), ("body", "cfg_scale")}


def test_kling_sound_per_request_or_setting() -> None:
    v26 = "fal-ai/kling-video/v2.6/pro/image-to-video"
    loud, parsed = parse_kling_input({"prompt": "p", "start_image_url": PNG_URI}, v26)
    assert loud.audio and parsed.image_url == PNG_URI  # generate_audio defaults to true on v2.6
    assert loud.frame_size(1080, 1920) == (1080, 1920)  # pro: about 1080p
    quiet, _ = parse_kling_input({"prompt": "p", "start_image_url": PNG_URI, "generate_audio": False}, v26)
    assert not quiet.audio
    with pytest.raises(FalInputError) as caught:
        parse_kling_input({"prompt": "p", "image_url": PNG_URI}, v26)  # renamed input
    assert {tuple(item["loc"]) for item in caught.value.detail} == {("body", "start_image_url")}
    v16 = "fal-ai/kling-video/v1.6/standard/image-to-video"
    assert not parse_kling_input({"prompt": "p", "image_url": PNG_URI, "generate_audio": True}, v16)[0].audio
    assert parse_kling_input({"prompt": "p", "image_url": PNG_URI}, v16, audio=True)[0].audio  # the sim setting


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/image_to_video", ("runway", "submit", None)),
        ("GET", "/v1/tasks/t1", ("runway", "status", "t1")),
        ("DELETE", "/v1/tasks/t1", ("runway", "cancel", "t1")),
        ("POST", "/fal-ai/kling-video/v1.6/standard/image-to-video", ("fal", "submit", None)),
        ("GET", "/fal-ai/kling-video/requests/r1/status", ("fal", "status", "r1")),
        ("GET", "/fal-ai/kling-video/requests/r1", ("fal", "result", "r1")),
        ("PUT", "/fal-ai/kling-video/requests/r1/cancel", ("fal", "cancel", "r1")),
        ("GET", "/outputs/t1.mp4", (None, "output", "t1")),
        ("POST", "/v1/images/generations", ("openai", "/v1/images/generations", None)),
        (
            "POST",
            "/openai/deployments/d/images/generations",
            ("openai", "/openai/deployments/d/images/generations", None),
        ),
    ],
)
def test_journal_classifies_calls(method: str, path: str, expected: tuple[str | None, str, str | None]) -> None:
    assert classify(method, path) == expected


def test_queue_positions_per_provider() -> None:
    store = TaskStore()
    request = parse({"model": "gen4_turbo", "promptImage": PNG_URI, "ratio": "720:1280"})
    fal = [store.create(request, TaskFaults(), provider="fal") for _ in range(3)]
    runway = store.create(request, TaskFaults())
    assert [store.queue_position(t) for t in fal] == [0, 1, 2]
    assert store.queue_position(runway) == 0
    fal[0].status = TaskStatus.RUNNING
    time.sleep(0.06)  # past the reuse window: positions are recomputed
    assert [store.queue_position(t) for t in fal[1:]] == [0, 1]
    late = store.create(request, TaskFaults(), provider="fal")
    assert store.queue_position(late) == 2

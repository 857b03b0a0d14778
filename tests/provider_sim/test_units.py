"""Pure units: request validation, URL signing, fault counters, task JSON shape."""

from __future__ import annotations

import base64

import pytest

from provider_sim.faults import FaultConfig, FaultPlan
from provider_sim.outputs import OutputSigner
from provider_sim.validation import ImageToVideoRequest, RequestValidationError, parse_image_to_video

PNG_URI = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()


def parse(body: object, strict: bool = False) -> ImageToVideoRequest:
    return parse_image_to_video(body, strict_ratios=strict, max_data_uri_bytes=1024)


def test_valid_request_defaults_to_ten_seconds() -> None:
    req = parse({"model": "veo3.1_fast", "promptImage": "https://cdn.example/x.png", "ratio": "1080:1920"})
    assert req.duration == 10
    assert (req.width, req.height) == (1080, 1920)


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

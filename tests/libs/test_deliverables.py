"""The deliverable spec: frame sizes per aspect ratio, frame-rate policy, bitrates."""

import pytest

from svd import deliverables


def test_frame_sizes() -> None:
    assert deliverables.frame_size("9:16") == (1080, 1920)
    assert deliverables.frame_size("1:1") == (1080, 1080)
    assert deliverables.frame_size("") == (1080, 1920)
    with pytest.raises(ValueError, match="unsupported aspect ratio"):
        deliverables.frame_size("16:9")


@pytest.mark.parametrize(("source", "target"), [(24, 24), (25, 25), (30, 30), (23.976, 30), (29.97, 30), (60, 30)])
def test_frame_rates_kept_or_thirty(source: float, target: int) -> None:
    assert deliverables.target_fps(source) == target


def test_bitrate_scales_with_the_frame() -> None:
    assert deliverables.bitrate_for(1080, 1920) == (8_000_000, 12_000_000, 2_000_000)
    target, ceiling, floor = deliverables.bitrate_for(1080, 1080)
    assert floor < target < ceiling < 8_000_000


def test_video_spec() -> None:
    spec = deliverables.video_spec("1:1", 10, True)
    assert (spec.width, spec.height, spec.duration_seconds, spec.with_audio) == (1080, 1080, 10, True)

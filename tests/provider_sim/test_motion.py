"""Motion-prompt parsing."""

from __future__ import annotations

import pytest

from provider_sim.motion import CameraMove, parse_motion


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Slow zoom in on the sneaker", CameraMove.ZOOM_IN),
        ("The camera pushes in toward the face", CameraMove.ZOOM_IN),
        ("dolly in, cinematic lighting", CameraMove.ZOOM_IN),
        ("slow zoom out to reveal the skyline", CameraMove.ZOOM_OUT),
        ("camera pulls back from the product", CameraMove.ZOOM_OUT),
        ("Pan left across the bookshelf", CameraMove.PAN_LEFT),
        ("the camera pans to the right", CameraMove.PAN_RIGHT),
        ("gentle sway, soft light", CameraMove.SWAY),
        ("handheld shot of a coffee cup", CameraMove.SWAY),
        ("clouds drifting over the hills", CameraMove.SWAY),
        ("floating particles", CameraMove.SWAY),
        ("static shot, locked-off tripod", CameraMove.STATIC),
        ("no camera movement", CameraMove.STATIC),
    ],
)
def test_keywords(prompt: str, expected: CameraMove) -> None:
    assert parse_motion(prompt) is expected


@pytest.mark.parametrize("prompt", [None, "", "A cat sitting on a sofa"])
def test_default_is_slow_zoom_in(prompt: str | None) -> None:
    assert parse_motion(prompt) is CameraMove.ZOOM_IN


def test_earliest_mention_wins() -> None:
    assert parse_motion("dolly in, then pan left") is CameraMove.ZOOM_IN
    assert parse_motion("pan left, then zoom in") is CameraMove.PAN_LEFT


def test_negated_moves_are_ignored() -> None:
    assert parse_motion("no zoom in, pan right") is CameraMove.PAN_RIGHT
    assert parse_motion("without panning left; gentle drift") is CameraMove.SWAY

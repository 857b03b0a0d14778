"""Fixtures of the media-store suite: test videos made once per session and a misbehaving HTTP source."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.media.harness import MediaHarness
from tests.media.mp4s import large_mp4, small_mp4
from tests.media.servers import SourceServer

LARGE_BYTES = 200 * 1024 * 1024


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def small_video(videos: Path) -> Path:
    """Already the 9:16 5 s deliverable (`moov` first): the conform step stores it as it is."""
    return small_mp4(videos / "small.mp4", seconds=5, width=1080, height=1920, faststart=True, deliverable=True)


@pytest.fixture(scope="session")
def large_video(videos: Path, small_video: Path) -> Path:
    return large_mp4(videos / "large.mp4", LARGE_BYTES, source=small_video)


@pytest.fixture(scope="session")
def corrupt_video(videos: Path) -> Path:
    """What a broken provider output looks like: an ftyp box, then nothing valid."""
    path = videos / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(256 * 1024))
    return path


@pytest.fixture(scope="session")
def source() -> Iterator[SourceServer]:
    server = SourceServer().start()
    yield server
    server.stop()


@pytest.fixture
async def harness(stack) -> AsyncIterator[MediaHarness]:
    async with MediaHarness(stack.info) as running:
        yield running

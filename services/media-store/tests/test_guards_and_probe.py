"""Pure parts of the media store: source guards, the ftyp check, the retry budget and the ranged-read probe."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from media_store.guards import SourcePolicy, SourceRefused, address_problem, check_resolved, check_url, host_allowed
from media_store.probe import InvalidVideo, RangeReader, probe
from media_store.transfer import Budget, has_ftyp
from svd.storage import is_transient
from tests.media.mp4s import large_mp4, small_mp4

PROD = SourcePolicy(("dnznrvs05pmza.cloudfront.net", "*.fal.media"))
DEV = SourcePolicy(("127.0.0.1", "localhost"), allow_loopback_http=True)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("dnznrvs05pmza.cloudfront.net", True),
        ("v3.fal.media", True),
        ("fal.media", False),  # "*.fal.media" is subdomains only
        ("evilfal.media", False),
        ("x.cloudfront.net", False),
        ("V3.FAL.MEDIA.", True),
    ],
)
def test_host_patterns(host: str, allowed: bool) -> None:
    assert host_allowed(host, PROD.allowed_hosts) is allowed


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("169.254.169.254", "a link-local address"),
        ("10.0.0.5", "a private address"),
        ("192.168.1.1", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "not a public address"),
        ("0.0.0.0", "a private address"),
        ("8.8.8.8", None),
    ],
)
def test_address_classes(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address), allow_loopback=False) == problem


def test_https_to_an_allowed_host_passes() -> None:
    assert check_url("https://dnznrvs05pmza.cloudfront.net/output.mp4?_jwt=x", PROD) == (
        "dnznrvs05pmza.cloudfront.net",
        443,
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://dnznrvs05pmza.cloudfront.net/o.mp4", "only HTTPS"),
        ("https://downloads.example.net/o.mp4", "host not allowed"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.1.2.3/o.mp4", "a private address"),
        ("http://127.0.0.1:8080/o.mp4", "a loopback address"),  # not in production
        ("ftp://dnznrvs05pmza.cloudfront.net/o.mp4", "only HTTPS"),
        ("file:///etc/passwd", "no host"),
    ],
)
def test_refused_urls(url: str, why: str) -> None:
    with pytest.raises(SourceRefused, match=why):
        check_url(url, PROD)


def test_development_allows_plain_http_to_loopback_only() -> None:
    assert check_url("http://127.0.0.1:8080/files/a.mp4", DEV) == ("127.0.0.1", 8080)
    assert check_url("http://localhost:8080/files/a.mp4", DEV) == ("localhost", 8080)
    with pytest.raises(SourceRefused, match="link-local"):
        check_url("http://169.254.169.254/", DEV)


async def test_a_name_resolving_to_loopback_is_refused_in_production() -> None:
    with pytest.raises(SourceRefused, match=r"resolves to .*loopback"):
        await check_resolved("localhost", 443, PROD)
    await check_resolved("localhost", 443, DEV)


def test_ftyp() -> None:
    assert has_ftyp(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00")
    assert not has_ftyp(b"<!doctype html>")
    assert not has_ftyp(b"\x00\x00")


async def test_budget_counts_every_attempt() -> None:
    budget = Budget(3, base_delay_s=0.0)
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    assert budget.left == 0


def test_transient_store_errors() -> None:
    def error(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "UploadPart")

    assert is_transient(error("SlowDown", 503))
    assert is_transient(error("InternalError", 500))
    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert not is_transient(error("AccessDenied", 403))
    assert not is_transient(error("NoSuchUpload", 404))


def _reader(data: bytes, block: int = 64 * 1024) -> RangeReader:
    return RangeReader(lambda offset, length: data[offset : offset + length], len(data), block_size=block)


def test_range_reader_reads_and_seeks_like_a_file() -> None:
    data = os.urandom(300_000)
    reader = _reader(data, block=1000)
    assert reader.read(10) == data[:10]
    reader.seek(-5, 2)
    assert reader.read() == data[-5:]
    reader.seek(2_500)
    assert reader.read(3_000) == data[2_500:5_500]
    assert reader.read(0) == b""


def test_probe_reads_a_big_file_through_a_few_ranged_reads(tmp_path: Path) -> None:
    video = large_mp4(tmp_path / "big.mp4", 40 * 1024 * 1024, source=small_mp4(tmp_path / "small.mp4"))
    data = video.read_bytes()
    reader = _reader(data, block=512 * 1024)
    facts, poster = probe(reader, len(data))
    assert (facts.width, facts.height, facts.codec, facts.size_bytes) == (270, 480, "h264", len(data))
    assert abs(facts.duration_seconds - 2.0) < 0.1
    assert poster[:3] == b"\xff\xd8\xff"
    assert reader.fetches <= 6  # the head, the sample table and the tail: not the padding


@pytest.mark.parametrize("damage", ["truncated", "garbage", "no_moov"])
def test_broken_videos_are_invalid(tmp_path: Path, damage: str) -> None:
    data = small_mp4(tmp_path / "v.mp4").read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = data[:32] + os.urandom(len(data) - 32)
    else:
        data = data[: data.rfind(b"moov") - 4]
    with pytest.raises(InvalidVideo):
        probe(_reader(data), len(data))

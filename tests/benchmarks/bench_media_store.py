"""Media-store benchmark: move a 1 GiB MP4 from a local HTTP source into the S3 store, beside a boto3 ceiling.

    .venv/bin/python -m tests.benchmarks.bench_media_store [--gib 1] [--runs 2]

On a real embedded stack (``svd up`` in a temp home: NATS, PostgreSQL, SeaweedFS S3 and the services) a valid
MP4 of the given size (a short H.264 video whose ``mdat`` is grown with padding, so every byte is moved) is served
by a local HTTP server on loopback. Each run publishes ``video.ready`` like the video gateway and times until
``video.stored`` (download, ftyp check, streaming multipart upload, probe over ranged reads, poster, records),
while the media-store process's RSS is sampled every 10 ms; growth is the peak minus the RSS just before the run
(after a warm-up transfer, so imports and connection pools are already paid for).

The ceiling is a plain ``boto3`` ``upload_file`` of the same file from local disk to the same store in the same
run (default ``TransferConfig``: 8 MiB parts, 10 threads). Targets: RSS growth < 64 MiB, throughput >= 70 % of the
ceiling. The best of ``--runs`` is reported for each side (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

import psutil

from tests.media.harness import MediaHarness
from tests.media.mp4s import large_mp4, small_mp4
from tests.media.servers import SourceServer

MIB = 1024 * 1024
RSS_TARGET_MIB = 64
THROUGHPUT_TARGET = 0.70


class RssSampler:
    """Peak RSS of one process, sampled on a thread."""

    def __init__(self, pid: int, every_s: float = 0.01) -> None:
        self._process = psutil.Process(pid)
        self._every = every_s
        self._stop = threading.Event()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self._every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / MIB


async def move(harness: MediaHarness, source: SourceServer, name: str, pid: int) -> tuple[float, float, int]:
    """(seconds, RSS growth MiB, bytes) for one transfer through the media store."""
    ref = harness.new_ref()
    with RssSampler(pid) as rss:
        began = time.perf_counter()
        await harness.publish_ready(ref, source.url(name))
        outcome = await harness.outcome(ref.job_id, timeout_s=1800)
        elapsed = time.perf_counter() - began
    if outcome.stored is None:
        raise SystemExit(f"transfer failed: {outcome.failed}")
    return elapsed, rss.growth_mib, outcome.stored.size_bytes


def ceiling(harness: MediaHarness, path: Path) -> float:
    key = f"bench/ceiling-{time.time_ns()}.mp4"
    began = time.perf_counter()
    harness.s3.upload_file(str(path), harness.bucket, key, ExtraArgs={"ContentType": "video/mp4"})
    elapsed = time.perf_counter() - began
    harness.s3.delete_object(Bucket=harness.bucket, Key=key)
    return elapsed


async def bench(stack, work: Path, size: int, runs: int) -> dict[str, float]:
    print(f"making a {size / MIB:.0f} MiB MP4 …", flush=True)
    small = small_mp4(work / "small.mp4", seconds=5, width=1080, height=1920, faststart=True, deliverable=True)
    big = large_mp4(work / "big.mp4", size, source=small)
    warm = large_mp4(work / "warm.mp4", 32 * MIB, source=small)
    source = SourceServer().start()
    source.add("big.mp4", big)
    source.add("warm.mp4", warm)
    pid = stack.pid("media_store")
    try:
        async with MediaHarness(stack.info) as harness:
            await move(harness, source, "warm.mp4", pid)
            moves, ceilings = [], []
            for run in range(runs):
                ceilings.append(await asyncio.to_thread(ceiling, harness, big))
                seconds, growth, moved = await move(harness, source, "big.mp4", pid)
                assert moved == size
                moves.append((seconds, growth))
                print(
                    f"run {run + 1}: media-store {seconds:.2f} s ({size / MIB / seconds:.0f} MiB/s), "
                    f"RSS growth {growth:.1f} MiB; boto3 upload_file {ceilings[-1]:.2f} s "
                    f"({size / MIB / ceilings[-1]:.0f} MiB/s)",
                    flush=True,
                )
    finally:
        source.stop()
    best_move = min(s for s, _ in moves)
    best_ceiling = min(ceilings)
    return {
        "size_mib": size / MIB,
        "media_store_s": best_move,
        "media_store_mib_s": size / MIB / best_move,
        "rss_growth_mib": max(g for _, g in moves),
        "ceiling_s": best_ceiling,
        "ceiling_mib_s": size / MIB / best_ceiling,
        "ratio": best_ceiling / best_move,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0, help="size of the video in GiB")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    from tests.conftest import running_stack

    size = int(args.gib * 1024 * MIB)
    with (
        tempfile.TemporaryDirectory(prefix="bench-media-") as work,
        tempfile.TemporaryDirectory(prefix="bench-media-home-") as home,
        running_stack(Path(home)) as stack,
    ):
        result = asyncio.run(bench(stack, Path(work), size, args.runs))
    print()
    print(f"video                       {result['size_mib']:.0f} MiB")
    print(f"media-store (best)          {result['media_store_s']:.2f} s   {result['media_store_mib_s']:.0f} MiB/s")
    print(f"boto3 upload_file (best)    {result['ceiling_s']:.2f} s   {result['ceiling_mib_s']:.0f} MiB/s")
    rss_ok = result["rss_growth_mib"] < RSS_TARGET_MIB
    ratio_ok = result["ratio"] >= THROUGHPUT_TARGET
    print(
        f"peak RSS growth (worst)     {result['rss_growth_mib']:.1f} MiB   "
        f"target < {RSS_TARGET_MIB} MiB: {'OK' if rss_ok else 'MISSED'}"
    )
    print(
        f"throughput vs ceiling       {result['ratio'] * 100:.0f} %   "
        f"target >= {THROUGHPUT_TARGET * 100:.0f} %: {'OK' if ratio_ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()

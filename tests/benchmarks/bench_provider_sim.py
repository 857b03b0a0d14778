"""Provider-simulator capacity: can it stand behind a gateway holding 10,000 jobs in flight?

Starts ``python -m provider_sim`` (HTTP + TLS) as a subprocess, submits N tasks to each provider
(Runway over HTTP, fal over TLS) that stay in flight (``never_finish``), polls every one of them once,
and prints submit and poll throughput, the simulator's resident memory, and the request journal's
size. Run: ``.venv/bin/python -m tests.benchmarks.bench_provider_sim [--tasks 10000] [--concurrency 64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psutil
from PIL import Image

LIBS = Path(__file__).resolve().parents[2] / "libs"
RUNWAY_KEY, FAL_KEY = "bench-runway", "bench:fal"
APP = "fal-ai/kling-video/v1.6/standard/image-to-video"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _still() -> str:
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((360, 640)).convert("RGB").save(buf, "JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


async def _batch(count: int, concurrency: int, call: Callable[[int], Awaitable[str]]) -> tuple[list[str], float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> str:
        async with gate:
            return await call(index)

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(count)))
    return list(results), time.perf_counter() - started


async def _run(url: str, tls_url: str, bundle: Path, tasks: int, concurrency: int, proc: psutil.Process) -> None:
    image = _still()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    verify = ssl.create_default_context(cafile=str(bundle))
    async with (
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http,
        httpx.AsyncClient(base_url=tls_url, timeout=60, limits=limits, verify=verify) as https,
    ):
        for provider in ("runway", "fal"):
            fault = {"provider": provider, "never_finish": True, "never_finish_count": tasks}
            (await http.post("/_sim/faults", json=fault)).raise_for_status()
        runway_headers = {"Authorization": f"Bearer {RUNWAY_KEY}", "X-Runway-Version": "2024-11-06"}
        fal_headers = {"Authorization": f"Key {FAL_KEY}"}

        async def runway_submit(_: int) -> str:
            body = {"model": "gen4_turbo", "promptImage": image, "promptText": "zoom in", "ratio": "360:640"}
            response = await http.post("/v1/image_to_video", json=body, headers=runway_headers)
            response.raise_for_status()
            return str(response.json()["id"])

        async def fal_submit(_: int) -> str:
            body = {"prompt": "zoom in", "image_url": image, "aspect_ratio": "9:16"}
            response = await https.post(f"/{APP}", json=body, headers=fal_headers)
            response.raise_for_status()
            return str(response.json()["request_id"])

        runway_ids, runway_submit_s = await _batch(tasks, concurrency, runway_submit)
        fal_ids, fal_submit_s = await _batch(tasks, concurrency, fal_submit)

        async def runway_poll(index: int) -> str:
            response = await http.get(f"/v1/tasks/{runway_ids[index]}", headers=runway_headers)
            return str(response.json()["status"])

        async def fal_poll(index: int) -> str:
            response = await https.get(f"/fal-ai/kling-video/requests/{fal_ids[index]}/status", headers=fal_headers)
            return str(response.json()["status"])

        runway_states, runway_poll_s = await _batch(tasks, concurrency, runway_poll)
        fal_states, fal_poll_s = await _batch(tasks, concurrency, fal_poll)
        rss_mib = proc.memory_info().rss / 2**20
        journal = len((await http.get("/_sim/requests", params={"op": "status"})).json()["requests"])

    print(f"tasks per provider      {tasks} (concurrency {concurrency}, all kept in flight)")
    print(f"runway submit (http)    {tasks / runway_submit_s:8.0f} /s")
    print(f"fal submit (TLS)        {tasks / fal_submit_s:8.0f} /s")
    print(f"runway status poll      {tasks / runway_poll_s:8.0f} /s   states {sorted(set(runway_states))}")
    print(f"fal status poll (TLS)   {tasks / fal_poll_s:8.0f} /s   states {sorted(set(fal_states))}")
    print(f"simulator RSS           {rss_mib:8.0f} MiB with {2 * tasks} tasks in flight")
    print(f"journal status records  {journal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    port, tls_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="bench_sim_") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(LIBS), os.environ.get("PYTHONPATH")])),
            "PROVIDER_SIM_RUNWAY_KEYS": RUNWAY_KEY,
            "PROVIDER_SIM_FAL_KEYS": FAL_KEY,
            "PROVIDER_SIM_WORK_DIR": str(Path(tmp) / "work"),
        }
        command = [sys.executable, "-m", "provider_sim", "--port", str(port), "--tls-port", str(tls_port)]
        command += ["--tls-dir", str(Path(tmp) / "tls"), "--no-access-log", "--log-level", "warning"]
        with (Path(tmp) / "sim.log").open("wb") as log:
            sim = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or sim.poll() is not None:
                        raise SystemExit((Path(tmp) / "sim.log").read_text()) from None
                    time.sleep(0.1)
            bundle = Path(tmp) / "tls" / "ca-bundle.pem"
            proc = psutil.Process(sim.pid)
            asyncio.run(_run(url, f"https://127.0.0.1:{tls_port}", bundle, args.tasks, args.concurrency, proc))
        finally:
            sim.terminate()
            try:
                sim.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()


if __name__ == "__main__":
    main()

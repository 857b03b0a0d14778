"""Fixtures for provider_sim tests: synthetic images and a real simulator subprocess."""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image, ImageDraw

from tests.processes import free_port, simulator_process

if TYPE_CHECKING:
    import fal_client

LIBS_DIR = Path(__file__).resolve().parents[2] / "libs"
SIM_KEYS = ("sim-key-1", "sim-key-2")
FAL_KEYS = ("falid1:secret-1", "falid2:secret-2")
RUNWAY_HEADERS = {"Authorization": f"Bearer {SIM_KEYS[0]}", "X-Runway-Version": "2024-11-06"}

ImageFactory = Callable[..., bytes]


def _make_image(width: int, height: int, fmt: str = "PNG", circle_radius: int | None = None) -> bytes:
    """A test card: gradient background, grid, and a red circle in the centre."""
    img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(img)
    step = max(width, height) // 12
    for x in range(0, width, step):
        draw.line([(x, 0), (x, height)], fill=(40, 120, 220), width=3)
    for y in range(0, height, step):
        draw.line([(0, y), (width, y)], fill=(40, 120, 220), width=3)
    radius = circle_radius if circle_radius is not None else min(width, height) // 5
    cx, cy = width // 2, height // 2
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=(230, 20, 20))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="session")
def make_image() -> ImageFactory:
    return _make_image


@pytest.fixture(scope="session")
def data_uri(make_image: ImageFactory) -> str:
    payload = base64.b64encode(make_image(640, 360, "JPEG")).decode()
    return f"data:image/jpeg;base64,{payload}"


@dataclass(frozen=True)
class Sim:
    """A running simulator subprocess: its plain-HTTP and TLS bases and the trust bundle for the latter."""

    url: str
    tls_url: str
    bundle: Path

    @property
    def fal_host(self) -> str:
        return self.tls_url.removeprefix("https://")


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """Start ``python -m provider_sim`` (HTTP + TLS) as a real subprocess; stop it by pid afterwards."""
    port, tls_port = free_port(), free_port()
    base = tmp_path_factory.mktemp("provider_sim")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(LIBS_DIR), os.environ.get("PYTHONPATH")])),
        "PROVIDER_SIM_RUNWAY_KEYS": ",".join(SIM_KEYS),
        "PROVIDER_SIM_FAL_KEYS": ",".join(FAL_KEYS),
        "PROVIDER_SIM_WORK_DIR": str(base / "work"),
    }
    env.pop("SSL_CERT_FILE", None)
    tls_dir = base / "tls"
    args = ["--tls-port", str(tls_port), "--tls-dir", str(tls_dir), "--no-access-log"]
    with simulator_process(port, args, env, base / "sim.log") as url:
        yield Sim(url=url, tls_url=f"https://127.0.0.1:{tls_port}", bundle=tls_dir / "ca-bundle.pem")


@pytest.fixture(scope="session")
def sim_url(sim: Sim) -> str:
    return sim.url


FalFactory = Callable[..., "fal_client.AsyncClient"]


@pytest.fixture
def fal(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> FalFactory:
    """Real fal-client AsyncClients (one per key) aimed at the simulator's TLS listener.

    fal-client fixes its queue URL prefix from FAL_QUEUE_RUN_HOST when first imported, which may have
    happened earlier in this process, so the prefix is pointed at the simulator directly here.
    """
    import fal_client
    import fal_client.client

    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"{sim.tls_url}/")
    monkeypatch.setenv("SSL_CERT_FILE", str(sim.bundle))  # read by httpx when fal-client builds its client

    def make(key: str = FAL_KEYS[0]) -> fal_client.AsyncClient:
        return fal_client.AsyncClient(key=key)

    return make


class _ImageHandler(BaseHTTPRequestHandler):
    images: dict[str, bytes] = {}

    def do_GET(self) -> None:
        body = self.images.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def image_server(make_image: ImageFactory) -> Iterator[str]:
    """A tiny local HTTP server standing in for a presigned object-store URL."""
    _ImageHandler.images = {"/bucket/still.png": make_image(900, 1600)}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ImageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

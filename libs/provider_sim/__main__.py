"""CLI entry point: ``python -m provider_sim --host 127.0.0.1 --port N [--tls-port M --tls-dir DIR]``.

Binds the listening sockets itself before starting uvicorn, so ``--port 0``
works and the printed/public URLs always carry the real ports. With
``--tls-port`` a second uvicorn server serves the same app over TLS (fal's
API; ``fal-client`` only speaks https) with a certificate from the local CA in
``--tls-dir`` (see :mod:`provider_sim.tls`). Both servers run on one event
loop and stop together on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Generator
from pathlib import Path
from types import FrameType

import uvicorn

from provider_sim import tls
from provider_sim.app import create_app
from provider_sim.settings import SimSettings


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m provider_sim",
        description="Offline simulator of Runway's image_to_video and fal's queue API for Kling (renders real MP4s).",
    )
    parser.add_argument("--host", default=None, help="bind address (env PROVIDER_SIM_HOST, default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="bind port, 0 = any (env PROVIDER_SIM_PORT, default 8089)"
    )
    parser.add_argument("--public-base-url", default=None, help="base of output URLs (default http://HOST:PORT)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where outputs are written (default: temp dir)")
    parser.add_argument(
        "--tls-port",
        type=int,
        default=None,
        help="also serve over TLS on this port, 0 = any (env PROVIDER_SIM_TLS_PORT)",
    )
    parser.add_argument("--tls-dir", type=Path, default=None, help="local CA and certificates (default WORK_DIR/tls)")
    parser.add_argument(
        "--public-tls-base-url", default=None, help="base of https URLs (default https://HOST:TLS_PORT)"
    )
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--no-access-log", action="store_true", help="silence per-request log lines")
    return parser.parse_args(argv)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (it checks sock.proto); without it each
    # keep-alive response waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """The primary server: handles the signals and tells its followers to stop too."""

    def __init__(self, config: uvicorn.Config, followers: list[uvicorn.Server]) -> None:
        super().__init__(config)
        self.followers = followers

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        for follower in self.followers:
            follower.should_exit = True


class _Follower(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the primary server owns the signal handlers


async def _serve(
    primary: uvicorn.Server, sock: socket.socket, follower: uvicorn.Server | None, tls_sock: socket.socket | None
) -> None:
    if follower is None or tls_sock is None:
        await primary.serve(sockets=[sock])
        return
    await asyncio.gather(primary.serve(sockets=[sock]), follower.serve(sockets=[tls_sock]))


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    settings = SimSettings()
    overrides = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "public_base_url": args.public_base_url,
            "work_dir": args.work_dir,
            "tls_port": args.tls_port,
            "tls_dir": args.tls_dir,
            "public_tls_base_url": args.public_tls_base_url,
        }.items()
        if value is not None
    }
    settings = settings.model_copy(update=overrides)
    sock = _bind(settings.host, settings.port)
    settings = settings.model_copy(update={"port": sock.getsockname()[1]})
    tls_sock = None
    if settings.tls_port is not None:
        tls_sock = _bind(settings.host, settings.tls_port)
        settings = settings.model_copy(update={"tls_port": tls_sock.getsockname()[1]})
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)-9s %(name)s: %(message)s")
    app = create_app(settings)
    work_dir = app.state.sim.work_dir
    print(f"provider_sim listening on {settings.base_url()} (outputs in {work_dir})", flush=True)
    # Keep idle connections longer than clients' pools do (httpx: 5 s), as the real APIs' load balancers
    # do; a server closing first races the client's reuse of the connection.
    common = {"log_level": args.log_level, "access_log": not args.no_access_log, "timeout_keep_alive": 75}
    follower = None
    if tls_sock is not None:
        files = tls.prepare(settings.tls_dir or work_dir / "tls", _cert_hosts(settings.host))
        follower = _Follower(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.tls_port or 0,
                lifespan="off",  # the primary server runs the app's lifespan
                ssl_certfile=str(files.server_cert),
                ssl_keyfile=str(files.server_key),
                **common,
            )
        )
        print(f"provider_sim TLS on {settings.tls_base_url()} (trust bundle {files.bundle})", flush=True)
    primary = _Server(
        uvicorn.Config(app, host=settings.host, port=settings.port, lifespan="on", **common),
        [follower] if follower is not None else [],
    )
    asyncio.run(_serve(primary, sock, follower, tls_sock))
    return 0


def _cert_hosts(host: str) -> list[str]:
    hosts = list(tls.DEFAULT_HOSTS)
    if host not in hosts and host not in ("0.0.0.0", "::"):
        hosts.insert(0, host)
    return hosts


if __name__ == "__main__":
    sys.exit(main())

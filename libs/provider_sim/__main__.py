"""CLI entry point: ``python -m provider_sim --host 127.0.0.1 --port N``.

Binds the listening socket itself before starting uvicorn, so ``--port 0``
works and the printed/public URL always carries the real port.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from provider_sim.app import create_app
from provider_sim.settings import SimSettings


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m provider_sim",
        description="Offline simulator of Runway's image_to_video API (renders real MP4s).",
    )
    parser.add_argument("--host", default=None, help="bind address (env PROVIDER_SIM_HOST, default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="bind port, 0 = any (env PROVIDER_SIM_PORT, default 8089)"
    )
    parser.add_argument("--public-base-url", default=None, help="base of output URLs (default http://HOST:PORT)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where outputs are written (default: temp dir)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--no-access-log", action="store_true", help="silence per-request log lines")
    return parser.parse_args(argv)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


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
        }.items()
        if value is not None
    }
    settings = settings.model_copy(update=overrides)
    sock = _bind(settings.host, settings.port)
    settings = settings.model_copy(update={"port": sock.getsockname()[1]})
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)-9s %(name)s: %(message)s")
    app = create_app(settings)
    work_dir = app.state.sim.work_dir
    print(f"provider_sim listening on {settings.base_url()} (outputs in {work_dir})", flush=True)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())

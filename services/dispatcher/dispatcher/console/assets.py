"""Serves the console's files (read once at start) and its `config.json` (where media-store is) as a small ASGI
application: GET or HEAD only, `/` is the page, everything with a strict content security policy."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any

from dispatcher.console.settings import ConsoleSettings

TYPES = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8", ".css": b"text/css"}
FILES = ("index.html", "app.js", "style.css")


def _policy(media_url: str) -> bytes:
    """Scripts, styles and calls from this origin (and media-store); videos and images from the object store's
    signed URLs, wherever it is."""
    connect = " ".join(filter(None, ("'self'", media_url)))
    return (
        f"default-src 'self'; connect-src {connect}; media-src 'self' http: https:; img-src 'self' http: https: data:;"
        " object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ).encode()


def console_app(settings: ConsoleSettings) -> Callable[..., Awaitable[None]]:
    static = resources.files("dispatcher.console") / "static"
    bodies: dict[str, tuple[bytes, bytes]] = {
        f"/{name}": (static.joinpath(name).read_bytes(), TYPES["." + name.rsplit(".", 1)[1]]) for name in FILES
    }
    bodies["/"] = bodies["/index.html"]
    config = {"mediaUrl": settings.console_media_url.rstrip("/")}
    bodies["/config.json"] = (json.dumps(config).encode(), b"application/json")
    security = [
        (b"content-security-policy", _policy(settings.console_media_url.rstrip("/"))),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-cache"),
    ]

    async def app(scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        found = bodies.get(scope["path"])
        if scope["method"] not in ("GET", "HEAD") or found is None:
            status, body, kind = (404 if found is None else 405), b"not found", b"text/plain"
        else:
            status, (body, kind) = 200, found
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *security]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    return app

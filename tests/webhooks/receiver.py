"""A loopback webhook receiver for the tests: records every request and answers from a script per path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Route:
    """Answers in order (the last one repeats): an HTTP status, and seconds to wait before answering."""

    answers: list[tuple[int, float]] = field(default_factory=lambda: [(204, 0.0)])
    held: asyncio.Event | None = None  # while set to an unset event, requests wait for it
    calls: int = 0


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.routes: dict[str, Route] = {}
        self.arrived = asyncio.Condition()
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, *answers: tuple[int, float]) -> Route:
        self.routes[path] = Route(list(answers) or [(204, 0.0)])
        return self.routes[path]

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, path: str, count: int, timeout_s: float = 60.0) -> list[Received]:
        async with asyncio.timeout(timeout_s), self.arrived:
            await self.arrived.wait_for(lambda: len(self.at(path)) >= count)
        return self.at(path)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        route = self.routes.get(request.path) or self.route(request.path)
        status, delay = route.answers[min(route.calls, len(route.answers) - 1)]
        route.calls += 1
        async with self.arrived:
            self.received.append(Received(request.path, dict(request.headers), body, asyncio.get_running_loop().time()))
            self.arrived.notify_all()
        if route.held is not None:
            await route.held.wait()
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, text="ok" if status < 300 else f"answer {status}")


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", recv._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recv.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield recv
    finally:
        await runner.cleanup()

"""The console's files as the dispatcher serves them: the page, its script and style, where media-store is, a strict
content security policy, and nothing else."""

from __future__ import annotations

import json

import httpx

from dispatcher.console import ConsoleSettings, console_app


async def test_the_console_is_served_with_its_config_and_policy() -> None:
    app = console_app(ConsoleSettings(console_media_url="http://media.example:8081/"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        page = await http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script src="/app.js" defer></script>' in page.text and "cdn" not in page.text.lower()
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "connect-src 'self' http://media.example:8081" in policy
        assert "'unsafe-inline'" not in policy
        assert (await http.get("/app.js")).headers["content-type"].startswith("text/javascript")
        assert (await http.get("/style.css")).status_code == 200
        assert json.loads((await http.get("/config.json")).text) == {"mediaUrl": "http://media.example:8081"}
        assert (await http.get("/missing")).status_code == 404
        assert (await http.post("/", content=b"x")).status_code == 405

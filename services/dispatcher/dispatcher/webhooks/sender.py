"""One webhook attempt over HTTP: POST the body with its signature headers, read the answer up to a cap.

The session is `svd.netguard`'s aiohttp session: it resolves, checks and connects to exactly the checked addresses
of the endpoint's host at every new connection (so a DNS answer that turned private since the endpoint was created is
refused at delivery), and a literal address in the URL is checked here before each attempt. Redirects are never
followed. Every outcome becomes an `Answer`; nothing here raises.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from dispatcher.webhooks.domain import excerpt
from svd.netguard import AddressPolicy, AddressRefused, check_literal

USER_AGENT = "SocialVideoDesigner-Webhooks/1"
URL_CACHE = 10_000


@dataclass(frozen=True)
class Answer:
    """How an attempt went: the HTTP status (None without an answer), its latency and what to log."""

    http_status: int | None
    latency_s: float
    error: str = ""
    excerpt: str = ""
    retry_after: str | None = None
    refused: bool = False


class Sender:
    def __init__(
        self, session: aiohttp.ClientSession, policy: AddressPolicy, timeout_s: float, response_cap_bytes: int
    ) -> None:
        self._session = session
        self._policy = policy
        self._timeout_s = timeout_s
        self._cap = response_cap_bytes
        self._urls: dict[str, tuple[URL, str]] = {}

    def _parsed(self, url: str) -> tuple[URL, str]:
        """The URL as aiohttp takes it and its host (parsed once per endpoint URL, not per attempt)."""
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= URL_CACHE:
                self._urls.clear()
            parsed = self._urls[url] = (URL(url), urlsplit(url).hostname or "")
        return parsed

    async def post(self, url: str, body: str, headers: dict[str, str]) -> Answer:
        started = time.perf_counter()
        try:
            target, host = self._parsed(url)
            check_literal(host, self._policy)
            async with asyncio.timeout(self._timeout_s):
                return await self._post(target, body, headers, started)
        except AddressRefused as exc:
            return Answer(None, time.perf_counter() - started, exc.message, refused=True)
        except TimeoutError:
            return Answer(None, time.perf_counter() - started, f"timed out after {self._timeout_s:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Answer(None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"[:500].replace("\x00", ""))

    async def _post(self, url: URL, body: str, headers: dict[str, str], started: float) -> Answer:
        request_headers = {**headers, "content-type": "application/json", "user-agent": USER_AGENT}
        async with self._session.post(
            url, data=body.encode(), headers=request_headers, allow_redirects=False
        ) as response:
            received = await response.content.read(self._cap) if self._cap else b""
            status = response.status
            error = ""
            if 300 <= status < 400:
                error = f"redirect to {response.headers.get('location', '?')[:200]} not followed"
            elif not 200 <= status < 300:
                error = f"HTTP {status}"
            return Answer(
                status,
                time.perf_counter() - started,
                error,
                excerpt(received),
                response.headers.get("retry-after"),
            )

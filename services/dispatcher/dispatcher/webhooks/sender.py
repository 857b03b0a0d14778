"""One webhook attempt over HTTP: POST the body with its signature headers, read the answer up to a cap.

The client is `svd.netguard`'s: it never follows a redirect, and it resolves, checks and connects to exactly the
checked addresses of the endpoint's host at every new connection (so a DNS answer that turned private since the
endpoint was created is refused at delivery). Every outcome becomes an `Answer`; nothing here raises.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from dispatcher.webhooks.domain import excerpt
from svd.netguard import AddressRefused

USER_AGENT = "SocialVideoDesigner-Webhooks/1"


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
    def __init__(self, client: httpx.AsyncClient, timeout_s: float, response_cap_bytes: int) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._cap = response_cap_bytes

    async def post(self, url: str, body: str, headers: dict[str, str]) -> Answer:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._post(url, body, headers, started)
        except AddressRefused as exc:
            return Answer(None, time.perf_counter() - started, exc.message, refused=True)
        except TimeoutError:
            return Answer(None, time.perf_counter() - started, f"timed out after {self._timeout_s:g} s")
        except httpx.HTTPError as exc:
            return Answer(None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"[:500])

    async def _post(self, url: str, body: str, headers: dict[str, str], started: float) -> Answer:
        request_headers = {**headers, "content-type": "application/json", "user-agent": USER_AGENT}
        async with self._client.stream("POST", url, content=body.encode(), headers=request_headers) as response:
            received = bytearray()
            async for chunk in response.aiter_raw():
                received += chunk[: self._cap - len(received)]
                if len(received) >= self._cap:
                    break
            status = response.status_code
            error = ""
            if 300 <= status < 400:
                error = f"redirect to {response.headers.get('location', '?')[:200]} not followed"
            elif not 200 <= status < 300:
                error = f"HTTP {status}"
            return Answer(
                status,
                time.perf_counter() - started,
                error,
                excerpt(bytes(received)),
                response.headers.get("retry-after"),
            )

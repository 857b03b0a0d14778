"""Request journal: one record per provider API call, for tests that assert on a client's behaviour.

Which key called which operation of which provider, when, on which task, and what it was answered
(status code, injected fault). Lets a test check key rotation, poll timing, "never polled twice",
retries after a 429. Read with ``GET /_sim/requests`` (filters: ``provider``, ``op``, ``key``,
``task_id``, ``since`` = last seen ``seq``), cleared with ``DELETE /_sim/requests``.

Recorded by an ASGI middleware around the whole app; handlers add what only they know (the key
they parsed, the task id they created) to ``request.state``. Control-plane and health calls are not
recorded. Bounded: the oldest records are dropped past ``capacity``.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_FAL_REQUEST = re.compile(r"^/[^/]+/[^/]+/requests/(?P<id>[^/]+)(?P<tail>/status|/cancel)?$")
_RUNWAY_TASK = re.compile(r"^/v1/tasks/(?P<id>[^/]+)$")
_OUTPUT = re.compile(r"^/outputs/(?P<id>[A-Za-z0-9_-]+)\.mp4$")
_UNRECORDED = ("/_sim/", "/healthz")


def classify(method: str, path: str) -> tuple[str | None, str, str | None]:
    """(provider, operation, task id from the path) of a request."""
    if path == "/v1/image_to_video":
        return "runway", "submit", None
    if match := _RUNWAY_TASK.match(path):
        return "runway", {"GET": "status", "DELETE": "cancel"}.get(method, method.lower()), match["id"]
    if match := _OUTPUT.match(path):
        return None, "output", match["id"]
    if path.startswith(("/v1/", "/openai/")):  # OpenAI images (recorded by its own module too)
        return "openai", path, None
    if match := _FAL_REQUEST.match(path):
        tail = match["tail"] or ""
        return "fal", {"/status": "status", "/cancel": "cancel"}.get(tail, "result"), match["id"]
    if method == "POST":
        return "fal", "submit", None
    return None, path, None


FIELDS = ("seq", "time", "provider", "op", "method", "path", "key", "task_id", "status", "fault", "retry_after", "tls")
_FILTERABLE = ("provider", "op", "key", "task_id", "method")


class RequestJournal:
    """Records kept as tuples (a few hundred bytes each); dicts are built only when queried."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._records: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self._seq = 0

    def add(self, record: Mapping[str, Any]) -> None:
        self._seq += 1
        self._records.append((self._seq, *(record.get(name) for name in FIELDS[1:])))

    def clear(self) -> None:
        self._records.clear()

    def query(self, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        since = int(filters.get("since", "0") or 0)
        wanted = [(FIELDS.index(k), v) for k, v in filters.items() if k in _FILTERABLE]
        return [
            dict(zip(FIELDS, record, strict=True))
            for record in self._records
            if record[0] > since and all(str(record[i]) == v for i, v in wanted)
        ]


class JournalMiddleware:
    def __init__(self, app: ASGIApp, journal: RequestJournal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_UNRECORDED):
            await self.app(scope, receive, send)
            return
        started = time.time()
        answer: dict[str, Any] = {}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
                answer["fault"] = headers.get("x-provider-sim-fault")
                answer["retry_after"] = headers.get("retry-after")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            method = scope.get("method", "")
            provider, op, path_id = classify(method, path)
            state = scope.get("state") or {}
            self.journal.add(
                {
                    "time": started,
                    "provider": provider,
                    "op": op,
                    "method": method,
                    "path": path,
                    "key": state.get("api_key"),
                    "task_id": state.get("task_id") or path_id,
                    "status": answer.get("status"),
                    "fault": answer.get("fault"),
                    "retry_after": answer.get("retry_after"),
                    "tls": scope.get("scheme") == "https",
                }
            )

"""A fault-injecting HTTP proxy in front of the real S3 store (SeaweedFS): a `503 SlowDown` storm on demand.

Rules match by method, query key (e.g. `partNumber`: upload parts) and key suffix (e.g. `-poster.jpg`); every
request's method, path and headers are kept in `seen`, so a test can check what was asked of the store (ACLs).

Requests are forwarded byte for byte (the `Host` header too, so SigV4 signatures stay valid) to the upstream
endpoint, except those matching an armed `FaultRule`, which get the S3 error document Spaces sends when it
throttles. Runs in a thread of the test process on a free loopback port.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "expect", "transfer-encoding", "proxy-connection", "upgrade", "te"}
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>proxy</RequestId></Error>"
)


@dataclass
class FaultRule:
    method: str  # e.g. PUT; "*" = any
    query_key: str  # e.g. partNumber: only requests whose query has this key; "" = any
    times: int  # how many requests to fail; -1 = until disarmed
    status: int = 503
    body: bytes = SLOW_DOWN
    path_suffix: str = ""  # e.g. "-poster.jpg": only requests for such keys

    def matches(self, method: str, path: str, query: dict[str, list[str]]) -> bool:
        return (
            self.times != 0
            and self.method in ("*", method)
            and (not self.query_key or self.query_key in query)
            and path.endswith(self.path_suffix)
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultProxy

    def log_message(self, format: str, *args: object) -> None:
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        target = urlsplit(self.path)
        query = parse_qs(target.query, keep_blank_values=True)
        with self.server.lock:
            self.server.requests += 1
            self.server.seen.append((self.command, target.path, dict(self.headers.items())))
            rule = next((r for r in self.server.rules if r.matches(self.command, target.path, query)), None)
            if rule is not None:
                rule.times -= 1 if rule.times > 0 else 0
                self.server.injected += 1
        if rule is not None:
            self.send_response(rule.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(rule.body)))
            self.end_headers()
            self.wfile.write(rule.body)
            return
        upstream = urlsplit(self.server.upstream())
        conn = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port or 80, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body if length else None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        content_length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", content_length or str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: Callable[[], str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.rules: list[FaultRule] = []
        self.lock = threading.Lock()
        self.requests = 0
        self.injected = 0
        self.seen: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers of every request

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def arm(self, rule: FaultRule) -> None:
        with self.lock:
            self.rules.append(rule)

    def disarm(self) -> None:
        with self.lock:
            self.rules.clear()

    def start(self) -> FaultProxy:
        threading.Thread(target=self.serve_forever, name="s3-fault-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

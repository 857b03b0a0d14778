"""A real HTTP file server on a free loopback port with scripted misbehaviour: the provider CDN of the tests.

`SourceServer` serves registered files at `/files/<name>` (with `Range` support, an ETag and `Accept-Ranges` unless
told otherwise) and can, per file: cut the body off after N bytes for the first K responses, answer the first K
requests with a status (503 …), always answer with a status and body (403 "Request has expired"), redirect
(to 169.254.169.254 …), or throttle to a rate. Every request is recorded. Runs in a thread of the test process, or
as a process: `python -m tests.media.servers --root DIR` prints its port.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Behaviour:
    path: Path
    ranges: bool = True
    truncate_at: int = 0  # cut the body after this many bytes…
    truncate_times: int = 0  # …for this many responses
    fail_status: int = 0  # answer the first `fail_times` requests with this status
    fail_times: int = 0
    status: int = 0  # always answer with this status and `body`
    body: bytes = b""
    content_type: str = "video/mp4"
    redirect: str = ""
    rate: int = 0  # bytes per second, 0 = as fast as possible


@dataclass
class Seen:
    name: str
    range: str | None
    status: int


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SourceServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        match = re.match(r"^/files/([^/?]+)", self.path)
        behaviour = self.server.files.get(match.group(1)) if match else None
        if behaviour is None:
            self._simple(404, b"not found", "text/plain")
            return
        seen = Seen(match.group(1) if match else "", self.headers.get("Range"), 0)
        with self.server.lock:
            self.server.seen.append(seen)
        try:
            seen.status = self._serve(behaviour)
        except (ConnectionError, BrokenPipeError):
            seen.status = -1  # the client went away mid-body
            self.close_connection = True

    def _simple(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        return status

    def _serve(self, b: Behaviour) -> int:
        if b.redirect:
            return self._simple(302, b"", "text/plain", {"Location": b.redirect})
        if b.status:
            return self._simple(b.status, b.body, "application/json")
        with self.server.lock:
            if b.fail_times > 0:
                b.fail_times -= 1
                return self._simple(b.fail_status, b'{"error": "try again"}', "application/json")
            truncate = b.truncate_times > 0
            b.truncate_times -= 1 if truncate else 0
        size = b.path.stat().st_size
        start, end = 0, size - 1
        wanted = _RANGE.match(self.headers.get("Range", "")) if b.ranges else None
        self.send_response(206 if wanted else 200)
        if wanted:
            start = int(wanted.group(1))
            end = int(wanted.group(2)) if wanted.group(2) else size - 1
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if b.ranges:
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{hashlib.sha1(f"{b.path}:{size}".encode()).hexdigest()}"')
        self.send_header("Content-Type", b.content_type)
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        count = end - start + 1
        if truncate:
            count = max(0, min(count, b.truncate_at - start))
        self._send_file(b.path, start, count, b.rate)
        if truncate:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        return 206 if wanted else 200

    def _send_file(self, path: Path, start: int, count: int, rate: int) -> None:
        self.wfile.flush()
        with path.open("rb") as handle:
            if not rate:
                self.connection.sendfile(handle, start, count)
                return
            handle.seek(start)
            began = time.monotonic()
            sent = 0
            while sent < count:
                piece = handle.read(min(256 * 1024, count - sent))
                self.connection.sendall(piece)
                sent += len(piece)
                ahead = sent / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)


class SourceServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, Behaviour] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/files/{name}"

    def add(self, name: str, path: Path, **behaviour: object) -> str:
        self.files[name] = Behaviour(path, **behaviour)  # type: ignore[arg-type]
        return self.url(name)

    def requests_for(self, name: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.name == name]

    def start(self) -> SourceServer:
        self._thread = threading.Thread(target=self.serve_forever, name="source-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve every file of a directory at /files/<name>.")
    parser.add_argument("--root", type=Path, required=True)
    args = parser.parse_args()
    server = SourceServer()
    for path in args.root.iterdir():
        if path.is_file():
            server.add(path.name, path)
    print(server.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

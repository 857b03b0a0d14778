"""Output delivery: signed, expiring URLs for rendered MP4s and the route serving them.

URLs look like ``{public_base_url}/outputs/{task_id}.mp4?exp=<unix ts>&sig=<hex>``
where ``sig = HMAC-SHA256(secret, "{name}:{exp}")``, mimicking the presigned
CDN links the real provider hands out. Files are streamed from disk.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from provider_sim.context import get_context

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.mp4$")


class OutputSigner:
    def __init__(self, secret: bytes, base_url: str, ttl_s: int) -> None:
        self._secret = secret
        self._base_url = base_url.rstrip("/")
        self._ttl_s = ttl_s

    def sign(self, name: str, exp: int) -> str:
        return hmac.new(self._secret, f"{name}:{exp}".encode(), hashlib.sha256).hexdigest()

    def url_for(self, name: str, now: float | None = None, *, expired: bool = False) -> str:
        """A signed URL for `name`; `expired` signs one whose lifetime is already over (a fault)."""
        exp = int((time.time() if now is None else now) + (-1 if expired else self._ttl_s))
        return f"{self._base_url}/outputs/{quote(name)}?exp={exp}&sig={self.sign(name, exp)}"

    def check(self, name: str, exp_raw: str | None, sig: str | None, now: float | None = None) -> str | None:
        """Return why access is denied, or None if the URL is valid."""
        if not exp_raw or not sig or not exp_raw.isdigit():
            return "Missing or malformed signature"
        if not hmac.compare_digest(self.sign(name, int(exp_raw)), sig):
            return "Invalid signature"
        if int(exp_raw) < (time.time() if now is None else now):
            return "Request has expired"
        return None


async def serve_output(request: Request) -> Response:
    ctx = get_context(request)
    name = request.path_params["name"]
    if not _NAME_RE.match(name):
        return JSONResponse({"error": "Not found"}, status_code=404)
    denied = ctx.signer.check(name, request.query_params.get("exp"), request.query_params.get("sig"))
    if denied is not None:
        return JSONResponse({"error": denied}, status_code=403)
    if (fault := ctx.faults.take_output_fault(name.removesuffix(".mp4"))) is not None:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        return JSONResponse({"error": "Output temporarily unavailable"}, status_code=fault.status, headers=headers)
    path = ctx.work_dir / name
    if not path.is_file():
        return JSONResponse({"error": "Not found"}, status_code=404)
    return FileResponse(path, media_type="video/mp4")

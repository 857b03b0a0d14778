"""The Connect layer's own rules, without a stack: method names as the generator spells them, one failure mapping
shared with gRPC, CORS only for the allowed origins, and listen addresses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from connectrpc.code import Code

from svd import errors
from svd.grpc.connect import Router, connect_error, host_and_port, snake_case


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("GetJob", "get_job"),
        ("GetJobEvents", "get_job_events"),
        ("GetDownloadUrl", "get_download_url"),
        ("SendTest", "send_test"),
    ],
)
def test_snake_case_is_the_generators(method: str, name: str) -> None:
    assert snake_case(method) == name


def test_failures_map_as_on_grpc_and_bugs_say_nothing() -> None:
    not_found = connect_error(errors.NotFound("job x not found"), "/m")
    assert (not_found.code, not_found.message) == (Code.NOT_FOUND, "job x not found")
    assert connect_error(errors.FailedPrecondition("no"), "/m").code == Code.FAILED_PRECONDITION
    assert connect_error(errors.Unauthenticated("who?"), "/m").code == Code.UNAUTHENTICATED
    transient = connect_error(ConnectionError("database restarting"), "/m")
    assert (transient.code, transient.message) == (Code.UNAVAILABLE, "temporarily unavailable, retry later")
    bug = connect_error(KeyError("secret detail"), "/m")
    assert (bug.code, bug.message) == (Code.INTERNAL, "internal error")


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


async def test_cors_answers_allowed_origins_only() -> None:
    router = Router({"/pkg.Svc": _ok}, fallback=None, cors_origins=frozenset({"http://console.example"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://api") as http:
        preflight = await http.options(
            "/pkg.Svc/Get", headers={"origin": "http://console.example", "access-control-request-method": "POST"}
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "http://console.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        call = await http.post("/pkg.Svc/Get", headers={"origin": "http://console.example"})
        assert (call.status_code, call.text) == (200, "/pkg.Svc/Get")
        assert call.headers["access-control-allow-origin"] == "http://console.example"
        other = await http.post("/pkg.Svc/Get", headers={"origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
        assert (await http.get("/index.html")).status_code == 404, "no fallback: nothing else is served"


def test_listen_addresses() -> None:
    assert host_and_port("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert host_and_port("[::]:8080") == ("::", 8080)
    assert host_and_port(":8080") == ("0.0.0.0", 8080)

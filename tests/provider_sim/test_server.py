"""The simulator as a real HTTP server in a subprocess, driven with httpx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from svd_stack.checks import plain_http

RUNWAY_VERSION = "2024-11-06"
KEY = "sim-key-1"
HEADERS = {"Authorization": f"Bearer {KEY}", "X-Runway-Version": RUNWAY_VERSION}
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


@pytest.fixture(autouse=True)
def _reset_faults(sim_url: str) -> Iterator[None]:
    plain_http().delete(f"{sim_url}/_sim/faults").raise_for_status()
    yield
    plain_http().delete(f"{sim_url}/_sim/faults").raise_for_status()


@pytest.fixture
async def client(sim_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim_url, headers=HEADERS, timeout=10) as http:
        yield http


def submit_body(prompt_image: Any, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gen4_turbo",
        "promptImage": prompt_image,
        "promptText": "slow zoom in on the subject",
        "ratio": "360:640",
        "duration": 5,
    }
    body.update(overrides)
    return body


async def wait_terminal(client: httpx.AsyncClient, task_id: str, within_s: float = 30.0) -> list[dict[str, Any]]:
    """Poll GET /v1/tasks/{id} until a terminal status; return every body seen."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        response = await client.get(f"/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if seen[-1]["status"] in TERMINAL:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"task {task_id} not finished in {within_s}s: {seen[-1]}")


def check_task_shape(task: dict[str, Any], task_id: str) -> None:
    assert task["id"] == task_id
    assert task["createdAt"].endswith("Z")
    if task["status"] == "RUNNING":
        assert 0.0 <= task["progress"] <= 1.0


@pytest.mark.asyncio
async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.asyncio
async def test_auth_required(sim_url: str, data_uri: str) -> None:
    async with httpx.AsyncClient(base_url=sim_url) as http:
        versioned = {"X-Runway-Version": RUNWAY_VERSION}
        missing = await http.post("/v1/image_to_video", json=submit_body(data_uri), headers=versioned)
        blank = await http.get("/v1/tasks/x", headers={**versioned, "Authorization": "Bearer"})
        wrong = await http.post(
            "/v1/image_to_video", json=submit_body(data_uri), headers={**versioned, "Authorization": "Bearer nope"}
        )
    for response in (missing, blank, wrong):
        assert response.status_code == 401
        assert "error" in response.json()


@pytest.mark.asyncio
async def test_version_header_required(client: httpx.AsyncClient, data_uri: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=str(client.base_url), headers=auth) as http:
        missing = await http.post("/v1/image_to_video", json=submit_body(data_uri))
        wrong = await http.post(
            "/v1/image_to_video", json=submit_body(data_uri), headers={"X-Runway-Version": "2023-01-01"}
        )
    assert missing.status_code == 400 and "X-Runway-Version" in missing.json()["error"]
    assert wrong.status_code == 400 and "2023-01-01" in wrong.json()["error"]


@pytest.mark.asyncio
@pytest.mark.parametrize("ratio", ["9:16x", "1080x1920", "1081:1920", "64:64", 1080])
async def test_bad_ratio(client: httpx.AsyncClient, data_uri: str, ratio: object) -> None:
    response = await client.post("/v1/image_to_video", json=submit_body(data_uri, ratio=ratio))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] and [issue["path"] for issue in body["issues"]] == [["ratio"]]


@pytest.mark.asyncio
async def test_validation_reports_every_issue(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/image_to_video",
        json={"model": "gen9", "promptImage": "ftp://x/y.png", "ratio": "720:1280", "duration": 7, "seed": -1},
    )
    assert response.status_code == 400
    paths = sorted(tuple(issue["path"]) for issue in response.json()["issues"])
    assert paths == [("duration",), ("model",), ("promptImage",), ("seed",)]


@pytest.mark.asyncio
async def test_submit_data_uri_renders_video(client: httpx.AsyncClient, data_uri: str, tmp_path: Path) -> None:
    response = await client.post("/v1/image_to_video", json=submit_body(data_uri, ratio="720:1280"))
    assert response.status_code == 200, response.text
    task_id = response.json()["id"]
    seen = await wait_terminal(client, task_id)
    for task in seen:
        check_task_shape(task, task_id)
    final = seen[-1]
    assert final["status"] == "SUCCEEDED", final
    (url,) = final["output"]
    assert url.startswith(f"{client.base_url}/outputs/{task_id}.mp4?exp=")

    async with httpx.AsyncClient() as anonymous:
        download = await anonymous.get(url)
        tampered = await anonymous.get(url[:-4] + "0000")
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert int(download.headers["content-length"]) == len(download.content) > 1000
    assert tampered.status_code == 403

    path = tmp_path / "out.mp4"
    path.write_bytes(download.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 720, 1280)
        assert sum(1 for _ in container.decode(stream)) == 120


@pytest.mark.asyncio
async def test_submit_url_and_list_form(client: httpx.AsyncClient, image_server: str) -> None:
    prompt_image = [{"uri": f"{image_server}/bucket/still.png?X-Amz-Signature=abc", "position": "first"}]
    response = await client.post(
        "/v1/image_to_video", json=submit_body(prompt_image, promptText="pan left", seed=42, extra_field=1)
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["id"]
    assert (await wait_terminal(client, task_id))[-1]["status"] == "SUCCEEDED"
    listed = {t["id"]: t for t in (await client.get("/_sim/tasks")).json()["tasks"]}
    assert listed[task_id]["motion"] == "pan_left"
    assert listed[task_id]["seed"] == 42
    assert listed[task_id]["ignoredKeys"] == ["extra_field"]


@pytest.mark.asyncio
async def test_unreachable_image_fails_task(client: httpx.AsyncClient, image_server: str) -> None:
    response = await client.post("/v1/image_to_video", json=submit_body(f"{image_server}/missing.png"))
    final = (await wait_terminal(client, response.json()["id"]))[-1]
    assert final["status"] == "FAILED"
    assert final["failureCode"] == "ASSET.INVALID" and final["failure"]


@pytest.mark.asyncio
async def test_unknown_task_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/tasks/00000000-0000-4000-8000-000000000000")).status_code == 404
    assert (await client.delete("/v1/tasks/00000000-0000-4000-8000-000000000000")).status_code == 404


@pytest.mark.asyncio
async def test_delete_cancels_then_deletes(client: httpx.AsyncClient, data_uri: str) -> None:
    response = await client.post("/v1/image_to_video", json=submit_body(data_uri, ratio="1080:1920", duration=10))
    task_id = response.json()["id"]
    assert (await client.delete(f"/v1/tasks/{task_id}")).status_code == 204
    task = (await client.get(f"/v1/tasks/{task_id}")).json()
    assert task["status"] == "CANCELLED" and "output" not in task
    await asyncio.sleep(0.3)
    assert (await client.get(f"/v1/tasks/{task_id}")).json()["status"] == "CANCELLED"
    assert (await client.delete(f"/v1/tasks/{task_id}")).status_code == 204
    assert (await client.get(f"/v1/tasks/{task_id}")).status_code == 404


@pytest.mark.asyncio
async def test_api_stays_responsive_while_rendering(client: httpx.AsyncClient, data_uri: str) -> None:
    ids = [
        (await client.post("/v1/image_to_video", json=submit_body(data_uri, ratio="1080:1920"))).json()["id"]
        for _ in range(3)
    ]
    await asyncio.sleep(0.3)
    statuses = [(await client.get(f"/v1/tasks/{i}")).json()["status"] for i in ids]
    # At most two renders run at once; the third waits its turn.
    assert statuses.count("RUNNING") <= 2 and "PENDING" in statuses
    worst = 0.0
    for _ in range(10):
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        worst = max(worst, time.perf_counter() - started)
        await asyncio.sleep(0.05)
    assert worst < 1.0
    for task_id in ids:
        await client.delete(f"/v1/tasks/{task_id}")


@pytest.mark.asyncio
async def test_fault_429_with_retry_after(client: httpx.AsyncClient, data_uri: str) -> None:
    configured = await client.post("/_sim/faults", json={"submit_status": 429, "submit_count": 2, "retry_after": 2})
    assert configured.status_code == 200
    for _ in range(2):
        limited = await client.post("/v1/image_to_video", json=submit_body(data_uri))
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "2"
        assert "error" in limited.json()
    accepted = await client.post("/v1/image_to_video", json=submit_body(data_uri))
    assert accepted.status_code == 200
    await client.delete(f"/v1/tasks/{accepted.json()['id']}")


@pytest.mark.asyncio
async def test_fault_status_errors_count_down(client: httpx.AsyncClient, data_uri: str) -> None:
    task_id = (await client.post("/v1/image_to_video", json=submit_body(data_uri))).json()["id"]
    await client.post("/_sim/faults", json={"status_error": 503, "status_error_count": 2})
    codes = [(await client.get(f"/v1/tasks/{task_id}")).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    await client.delete(f"/v1/tasks/{task_id}")


@pytest.mark.asyncio
async def test_fault_failed_outcome(client: httpx.AsyncClient, data_uri: str) -> None:
    await client.post("/_sim/faults", json={"task_outcome": "FAILED", "failure_code": "SAFETY.INPUT.TEXT"})
    task_id = (await client.post("/v1/image_to_video", json=submit_body(data_uri))).json()["id"]
    final = (await wait_terminal(client, task_id))[-1]
    assert final["status"] == "FAILED"
    assert final["failureCode"] == "SAFETY.INPUT.TEXT"
    assert isinstance(final["failure"], str) and final["failure"]
    assert (await client.get("/_sim/faults")).json() == {"faults": []}


@pytest.mark.asyncio
async def test_fault_corrupt_output(client: httpx.AsyncClient, data_uri: str, tmp_path: Path) -> None:
    await client.post("/_sim/faults", json={"corrupt_output": True})
    task_id = (await client.post("/v1/image_to_video", json=submit_body(data_uri))).json()["id"]
    final = (await wait_terminal(client, task_id))[-1]
    assert final["status"] == "SUCCEEDED"
    async with httpx.AsyncClient() as anonymous:
        download = await anonymous.get(final["output"][0])
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(download.content)
    with pytest.raises(av.error.FFmpegError):
        with av.open(str(path)) as container:
            next(container.decode(video=0))


@pytest.mark.asyncio
async def test_fault_config_is_validated(client: httpx.AsyncClient) -> None:
    response = await client.post("/_sim/faults", json={"submit_status": 200})
    assert response.status_code == 400
    response = await client.post("/_sim/faults", json={"no_such_fault": True})
    assert response.status_code == 400

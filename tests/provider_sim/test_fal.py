"""fal's queue API for Kling, driven by the real fal-client over TLS against the simulator subprocess.

fal-client builds its queue URLs from FAL_QUEUE_RUN_HOST when it is imported; in this process it may
already have been imported by other tests, so the in-process tests point its URL prefix at the
simulator directly, and `test_fal_client_configured_by_environment_only` proves the production wiring
(FAL_QUEUE_RUN_HOST, FAL_KEY, SSL_CERT_FILE and nothing else) in a fresh interpreter.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import certifi
import fal_client
import httpx
import pytest

from svd_stack.checks import plain_http
from tests.provider_sim.conftest import FAL_KEYS, FalFactory, ImageFactory, Sim

APP = "fal-ai/kling-video/v1.6/standard/image-to-video"
PRO = "fal-ai/kling-video/v1.6/pro/image-to-video"  # the one endpoint with aspect_ratio


@pytest.fixture(autouse=True)
def _clean(sim: Sim) -> Iterator[None]:
    plain_http().delete(f"{sim.url}/_sim/faults").raise_for_status()
    yield
    plain_http().delete(f"{sim.url}/_sim/faults").raise_for_status()
    for provider in ("fal", "runway"):
        plain_http().post(
            f"{sim.url}/_sim/keys", json={"provider": provider, "restore": list(FAL_KEYS)}
        ).raise_for_status()


@pytest.fixture
async def control(sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as http:
        yield http


@pytest.fixture
async def tls_http(sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    context = ssl.create_default_context(cafile=str(sim.bundle))
    headers = {"Authorization": f"Key {FAL_KEYS[0]}"}
    async with httpx.AsyncClient(base_url=sim.tls_url, verify=context, headers=headers, timeout=10) as http:
        yield http


def kling_input(image_url: str, **overrides: object) -> dict[str, object]:
    return {"prompt": "slow zoom in on the product", "image_url": image_url, "duration": "5", **overrides}


async def test_submit_status_with_logs_result_and_a_real_mp4(
    fal: FalFactory, make_image: ImageFactory, sim: Sim, tmp_path: Path
) -> None:
    client = fal()
    portrait = "data:image/png;base64," + base64.b64encode(make_image(360, 640)).decode()
    handle = await client.submit(APP, kling_input(portrait, aspect_ratio="16:9"))  # ignored: the image decides
    assert handle.status_url == f"{sim.tls_url}/fal-ai/kling-video/requests/{handle.request_id}/status"
    seen: list[fal_client.Status] = []
    async for event in handle.iter_events(with_logs=True, interval=0.1):
        seen.append(event)
    final = seen[-1]
    assert isinstance(final, fal_client.Completed) and final.error is None
    assert final.logs and any("ready" in log["message"] for log in final.logs)
    assert final.metrics["inference_time"] >= 0
    in_progress = [e for e in seen if isinstance(e, fal_client.InProgress)]
    assert all(isinstance(e.logs, list) for e in in_progress)
    plain = await handle.status()
    assert isinstance(plain, fal_client.Completed) and plain.logs is None
    result = await handle.get()
    video = result["video"]
    assert video["content_type"] == "video/mp4" and video["url"].startswith(sim.tls_url)
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(sim.bundle))) as http:
        download = await http.get(video["url"])
    assert download.status_code == 200 and len(download.content) == video["file_size"]
    path = tmp_path / "kling.mp4"
    path.write_bytes(download.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 1280)  # ~720p, the image's aspect
        assert stream.codec_context.name == "h264" and stream.average_rate == 30
        assert not container.streams.audio
        assert abs(float(container.duration or 0) / 1_000_000 - 5.0) < 0.2
    again = await client.result(APP, handle.request_id)
    assert again == result


async def test_queue_position_while_waiting(fal: FalFactory, data_uri: str, control: httpx.AsyncClient) -> None:
    await control.post("/_sim/faults", json={"provider": "fal", "throttle_seconds": 30, "throttle_count": 2})
    client = fal()
    first = await client.submit(APP, kling_input(data_uri))
    second = await client.submit(APP, kling_input(data_uri))
    assert await first.status() == fal_client.Queued(position=0)
    assert await second.status() == fal_client.Queued(position=1)
    for handle in (first, second):
        await handle.cancel()
        status = await handle.status()
        assert isinstance(status, fal_client.Completed) and status.error_type == "request_cancelled"
    with pytest.raises(fal_client.FalClientHTTPError) as again:
        await first.cancel()
    assert again.value.status_code == 400 and again.value.response.json() == {"status": "ALREADY_COMPLETED"}
    with pytest.raises(fal_client.FalClientHTTPError) as result:
        await first.get()
    assert result.value.status_code == 400


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"duration": "7"}, "duration"), ({"duration": 5}, "duration"), ({"cfg_scale": 2}, "cfg_scale"),
     ({"prompt": None}, "prompt"), ({"image_url": "ftp://x/y.png"}, "image_url"),
     ({"aspect_ratio": "4:3", "app": PRO}, "aspect_ratio")],
)  # fmt: skip
async def test_invalid_input_is_a_422_with_pydantic_detail(
    fal: FalFactory, data_uri: str, overrides: dict[str, object], field: str
) -> None:
    app = str(overrides.get("app", APP))
    body = {k: v for k, v in {**kling_input(data_uri), **overrides}.items() if v is not None and k != "app"}
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        await fal().submit(app, body)
    assert caught.value.status_code == 422
    detail = caught.value.response.json()["detail"]
    assert any(item["loc"] == ["body", field] and item["msg"] and item["type"] for item in detail)


async def test_unknown_endpoint_and_unknown_request(
    fal: FalFactory, data_uri: str, tls_http: httpx.AsyncClient
) -> None:
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        await fal().submit("fal-ai/kling-video/v9/ultra/image-to-video", kling_input(data_uri))
    assert caught.value.status_code == 404
    missing = await tls_http.get("/fal-ai/kling-video/requests/00000000-0000-0000-0000-000000000000/status")
    assert missing.status_code == 404


async def test_keys_unknown_and_revoked_get_401(fal: FalFactory, data_uri: str, control: httpx.AsyncClient) -> None:
    with pytest.raises(fal_client.FalClientHTTPError) as unknown:
        await fal("nobody:nothing").submit(APP, kling_input(data_uri))
    assert unknown.value.status_code == 401
    handle = await fal(FAL_KEYS[1]).submit(APP, kling_input(data_uri))
    (await control.post("/_sim/keys", json={"provider": "fal", "revoke": [FAL_KEYS[1]]})).raise_for_status()
    with pytest.raises(fal_client.FalClientHTTPError) as revoked:
        await fal(FAL_KEYS[1]).status(APP, handle.request_id)
    assert revoked.value.status_code == 401
    # Requests belong to the account: another valid key of the pool may poll them.
    assert isinstance(await fal(FAL_KEYS[0]).status(APP, handle.request_id), fal_client.Status)
    await fal(FAL_KEYS[0]).cancel(APP, handle.request_id)


async def test_image_from_a_presigned_style_url(fal: FalFactory, image_server: str) -> None:
    handle = await fal().submit(APP, kling_input(f"{image_server}/bucket/still.png?X-Amz-Signature=abc"))
    result = await handle.get(interval=0.1)
    assert result["video"]["url"]


async def test_unfetchable_image_completes_with_image_load_error(fal: FalFactory, image_server: str) -> None:
    handle = await fal().submit(APP, kling_input(f"{image_server}/bucket/missing.png"))
    async for status in handle.iter_events(interval=0.1):
        final = status
    assert isinstance(final, fal_client.Completed) and final.error_type == "image_load_error"
    with pytest.raises(fal_client.FalClientHTTPError) as caught:
        await handle.get()
    assert caught.value.status_code == 422
    assert caught.value.response.json()["detail"][0]["loc"] == ["body", "image_url"]


def test_fal_client_configured_by_environment_only(sim: Sim, data_uri: str) -> None:
    script = (
        "import fal_client, sys\n"
        f"handle = fal_client.submit({APP!r}, {{'prompt': 'pan left', 'image_url': sys.argv[1]}})\n"
        "print(handle.get(interval=0.1)['video']['url'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "SSL_CERT"))}
    env.update({"FAL_QUEUE_RUN_HOST": sim.fal_host, "FAL_KEY": FAL_KEYS[0], "SSL_CERT_FILE": str(sim.bundle)})
    done = subprocess.run(
        [sys.executable, "-c", script, data_uri], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(f"{sim.tls_url}/outputs/")
    # Without the bundle the local CA is not trusted: the TLS is real.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{sim.tls_url}/healthz", verify=ssl.create_default_context(cafile=certifi.where()))


async def test_runway_still_served_over_plain_http(sim: Sim, data_uri: str) -> None:
    headers = {"Authorization": "Bearer sim-key-2", "X-Runway-Version": "2024-11-06"}
    body = {"model": "gen4_turbo", "promptImage": data_uri, "ratio": "360:640", "duration": 5}
    async with httpx.AsyncClient(base_url=sim.url, headers=headers) as http:
        created = await http.post("/v1/image_to_video", json=body)
        assert created.status_code == 200
        await asyncio.sleep(0)
        assert (await http.delete(f"/v1/tasks/{created.json()['id']}")).status_code == 204

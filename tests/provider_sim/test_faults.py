"""Fault injection for both providers (Runway over HTTP, fal over TLS), keys, and the request journal.

Raw httpx is used where a fault must be seen as the wire shows it; fal-client (which retries 429 on
its own) where that behaviour is the point.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import fal_client
import httpx
import pytest

from svd_stack.checks import plain_http
from tests.provider_sim.conftest import FAL_KEYS, SIM_KEYS, FalFactory, Sim

APP = "fal-ai/kling-video/v1.6/standard/image-to-video"
RUNWAY_VERSION = {"X-Runway-Version": "2024-11-06"}


@dataclass
class Api:
    """One provider's calls, in its own wire format, for a given key."""

    provider: str
    http: httpx.AsyncClient
    image: str

    def auth(self, key: str) -> dict[str, str]:
        if self.provider == "runway":
            return {"Authorization": f"Bearer {key}", **RUNWAY_VERSION}
        return {"Authorization": f"Key {key}"}

    @property
    def keys(self) -> tuple[str, str]:
        return SIM_KEYS if self.provider == "runway" else FAL_KEYS

    async def submit(self, key: str | None = None) -> httpx.Response:
        headers = self.auth(key or self.keys[0])
        if self.provider == "runway":
            body = {"model": "gen4_turbo", "promptImage": self.image, "ratio": "360:640", "duration": 5}
            return await self.http.post("/v1/image_to_video", json=body, headers=headers)
        body = {"prompt": "slow zoom in", "image_url": self.image, "aspect_ratio": "9:16"}
        return await self.http.post(f"/{APP}", json=body, headers=headers)

    async def create(self, key: str | None = None) -> str:
        response = await self.submit(key)
        assert response.status_code == 200, response.text
        body = response.json()
        return str(body["id"] if self.provider == "runway" else body["request_id"])

    async def status(self, task_id: str, key: str | None = None) -> httpx.Response:
        path = f"/v1/tasks/{task_id}" if self.provider == "runway" else f"/fal-ai/kling-video/requests/{task_id}/status"
        return await self.http.get(path, headers=self.auth(key or self.keys[0]))

    async def state(self, task_id: str) -> str:
        response = await self.status(task_id)
        assert response.status_code in (200, 202), response.text
        return str(response.json()["status"])

    async def cancel(self, task_id: str) -> httpx.Response:
        headers = self.auth(self.keys[0])
        if self.provider == "runway":
            return await self.http.delete(f"/v1/tasks/{task_id}", headers=headers)
        return await self.http.put(f"/fal-ai/kling-video/requests/{task_id}/cancel", headers=headers)

    async def finish(self, task_id: str, within_s: float = 60) -> dict[str, Any]:
        """Poll until terminal; the final body (Runway task, or fal status merged with the fal result)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            body: dict[str, Any] = (await self.status(task_id)).json()
            if body["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return body
            if body["status"] == "COMPLETED":
                result = await self.http.get(f"/fal-ai/kling-video/requests/{task_id}", headers=self.auth(self.keys[0]))
                return {**body, "result_status": result.status_code, "result": result.json()}
            await asyncio.sleep(0.1)
        raise AssertionError(f"{task_id} did not finish")

    def output_url(self, final: dict[str, Any]) -> str:
        return str(final["output"][0] if self.provider == "runway" else final["result"]["video"]["url"])


@pytest.fixture(autouse=True)
def _clean(sim: Sim) -> Iterator[None]:
    plain_http().delete(f"{sim.url}/_sim/faults").raise_for_status()
    yield
    plain_http().delete(f"{sim.url}/_sim/faults").raise_for_status()
    for provider, keys in (("runway", SIM_KEYS), ("fal", FAL_KEYS)):
        plain_http().post(f"{sim.url}/_sim/keys", json={"provider": provider, "restore": list(keys)}).raise_for_status()


@pytest.fixture
async def control(sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as http:
        yield http


@pytest.fixture
async def https(sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    context = ssl.create_default_context(cafile=str(sim.bundle))
    async with httpx.AsyncClient(base_url=sim.tls_url, verify=context, timeout=10) as http:
        yield http


@pytest.fixture(params=["runway", "fal"])
async def api(request: pytest.FixtureRequest, sim: Sim, data_uri: str, https: httpx.AsyncClient) -> AsyncIterator[Api]:
    if request.param == "fal":
        yield Api("fal", https, data_uri)
        return
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as http:
        yield Api("runway", http, data_uri)


async def arm(control: httpx.AsyncClient, **fault: Any) -> None:
    response = await control.post("/_sim/faults", json=fault)
    assert response.status_code == 200, response.text


async def test_submit_429_with_retry_after_counted_and_scoped_to_provider(
    api: Api, control: httpx.AsyncClient, sim: Sim, data_uri: str
) -> None:
    other = "fal" if api.provider == "runway" else "runway"
    await arm(control, provider=api.provider, submit_status=429, submit_count=2, retry_after=3)
    assert (await control.get("/_sim/faults")).json()["faults"][0]["provider"] == api.provider
    for _ in range(2):
        limited = await api.submit()
        assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
        assert limited.headers["x-provider-sim-fault"] == "submit"
    task_id = await api.create()
    await api.cancel(task_id)
    assert (await control.get("/_sim/faults")).json() == {"faults": []}
    await arm(control, provider=other, submit_status=503, submit_count=1)
    accepted = await api.create()  # the other provider's fault leaves this one alone
    await api.cancel(accepted)


async def test_status_429_and_5xx_burst_targeted_at_one_task(api: Api, control: httpx.AsyncClient) -> None:
    target, bystander = await api.create(), await api.create()
    await arm(control, task_id=target, status_error=429, status_error_count=1, retry_after=7)
    limited = await api.status(target)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    await arm(control, task_id=target, status_error=503, status_error_count=3)
    assert (await api.status(bystander)).status_code in (200, 202)
    codes = [(await api.status(target)).status_code for _ in range(4)]
    assert codes[:3] == [503, 503, 503] and codes[3] in (200, 202)
    for task_id in (target, bystander):
        await api.cancel(task_id)


async def test_a_refused_cancel_leaves_the_task_running_to_its_end(api: Api, control: httpx.AsyncClient) -> None:
    await arm(control, provider=api.provider, slow_seconds=1.0)
    target = await api.create()
    await arm(control, task_id=target, cancel_error=400, cancel_error_count=1)
    refused = await api.cancel(target)
    assert refused.status_code == 400 and refused.headers["x-provider-sim-fault"] == "cancel"
    final = await api.finish(target)
    assert final["status"] in ("SUCCEEDED", "COMPLETED"), final


async def test_failed_task(api: Api, control: httpx.AsyncClient) -> None:
    await arm(control, provider=api.provider, task_outcome="FAILED", failure_code="SAFETY.INPUT.IMAGE")
    final = await api.finish(await api.create())
    if api.provider == "runway":
        assert final["status"] == "FAILED" and final["failureCode"] == "SAFETY.INPUT.IMAGE" and final["failure"]
    else:
        assert final["error_type"] == "content_policy_violation" and final["error"]
        assert final["result_status"] == 422
        assert final["result"]["detail"][0]["type"] == "content_policy_violation"


async def test_slow_task(api: Api, control: httpx.AsyncClient) -> None:
    await arm(control, provider=api.provider, slow_seconds=2.0)
    started = time.monotonic()
    task_id = await api.create()
    await asyncio.sleep(1.0)
    assert await api.state(task_id) in ("RUNNING", "IN_PROGRESS")
    final = await api.finish(task_id)
    assert time.monotonic() - started >= 2.0
    assert final["status"] in ("SUCCEEDED", "COMPLETED") and "error" not in final


async def test_task_that_never_finishes_until_cancelled(api: Api, control: httpx.AsyncClient) -> None:
    await arm(control, provider=api.provider, never_finish=True)
    task_id = await api.create()
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        assert await api.state(task_id) in ("PENDING", "RUNNING", "IN_QUEUE", "IN_PROGRESS")
        await asyncio.sleep(0.2)
    assert (await api.cancel(task_id)).status_code in (202, 204)
    assert await api.state(task_id) in ("CANCELLED", "COMPLETED")


async def test_auth_error_for_one_key_only(api: Api, control: httpx.AsyncClient) -> None:
    bad, good = api.keys
    await arm(control, provider=api.provider, key=bad, auth_error=401, auth_error_count=2)
    task_id = await api.create(good)
    codes = [(await api.status(task_id, bad)).status_code for _ in range(3)]
    assert codes[:2] == [401, 401] and codes[2] in (200, 202)
    assert (await api.status(task_id, good)).status_code in (200, 202)
    await api.cancel(task_id)


async def test_several_keys_and_a_revoked_one(api: Api, control: httpx.AsyncClient) -> None:
    first, second = api.keys
    ids = [await api.create(first), await api.create(second)]
    assert (await api.submit("not-a-key:x")).status_code == 401
    await control.post("/_sim/keys", json={"provider": api.provider, "revoke": [first]})
    assert (await api.submit(first)).status_code == 401
    assert (await api.status(ids[0], first)).status_code == 401
    assert (await api.status(ids[0], second)).status_code in (200, 202)
    await control.post("/_sim/keys", json={"provider": api.provider, "add": ["fresh:key"], "restore": [first]})
    keys = (await control.get("/_sim/keys")).json()["keys"][api.provider]
    assert "fresh:key" in keys["accepted"] and keys["revoked"] == []
    ids.append(await api.create("fresh:key"))
    ids.append(await api.create(first))
    for task_id in ids:
        await api.cancel(task_id)


async def test_expired_output_url(api: Api, control: httpx.AsyncClient, sim: Sim) -> None:
    await arm(control, provider=api.provider, expired_output=True)
    final = await api.finish(await api.create())
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(sim.bundle))) as http:
        download = await http.get(api.output_url(final))
    assert download.status_code == 403 and download.json()["error"] == "Request has expired"


async def test_output_download_refused_for_a_while_then_served(api: Api, control: httpx.AsyncClient, sim: Sim) -> None:
    final = await api.finish(await api.create())
    await arm(control, output_error=503, output_error_count=2)
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(sim.bundle))) as http:
        refused = [(await http.get(api.output_url(final))).status_code for _ in range(2)]
        served = await http.get(api.output_url(final))
    assert refused == [503, 503]
    assert served.status_code == 200 and served.content  # the task's output is still there


async def test_corrupt_output(api: Api, control: httpx.AsyncClient, sim: Sim, tmp_path: Path) -> None:
    await arm(control, provider=api.provider, corrupt_output=True)
    final = await api.finish(await api.create())
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(sim.bundle))) as http:
        download = await http.get(api.output_url(final))
    assert download.status_code == 200
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(download.content)
    with pytest.raises(av.error.FFmpegError), av.open(str(path)) as container:
        next(container.decode(video=0))


async def test_journal_records_key_op_task_and_fault(api: Api, control: httpx.AsyncClient) -> None:
    await control.delete("/_sim/requests")
    await arm(control, provider=api.provider, never_finish=True)  # still in flight when cancelled
    first, second = api.keys
    task_id = await api.create(first)
    await arm(control, task_id=task_id, status_error=500, status_error_count=1)
    await api.status(task_id, second)
    await api.status(task_id, first)
    await api.cancel(task_id)
    records = (await control.get("/_sim/requests", params={"provider": api.provider})).json()["requests"]
    assert [(r["op"], r["key"], r["status"], r["fault"]) for r in records] == [
        ("submit", first, 200, None),
        ("status", second, 500, "status"),
        ("status", first, 200 if api.provider == "runway" else 202, None),
        ("cancel", first, 204 if api.provider == "runway" else 202, None),
    ]
    assert {r["task_id"] for r in records} == {task_id}
    assert all(r["tls"] == (api.provider == "fal") for r in records)
    later = (await control.get("/_sim/requests", params={"since": records[1]["seq"], "op": "status"})).json()
    assert [r["seq"] for r in later["requests"]] == [records[2]["seq"]]
    assert records[0]["time"] <= records[1]["time"] <= records[2]["time"]


async def test_fal_client_retries_429_itself_and_the_journal_shows_it(
    fal: FalFactory, data_uri: str, control: httpx.AsyncClient
) -> None:
    await control.delete("/_sim/requests")
    await arm(control, provider="fal", submit_status=429, submit_count=2, retry_after=0, never_finish=True)
    handle = await fal().submit(APP, {"prompt": "pan left", "image_url": data_uri})
    submits = (await control.get("/_sim/requests", params={"op": "submit"})).json()["requests"]
    assert [r["status"] for r in submits] == [429, 429, 200]
    await handle.cancel()
    await arm(control, provider="fal", status_error=503, status_error_count=1)
    with pytest.raises(fal_client.FalClientHTTPError) as caught:  # a 503 from the service itself is not retried
        await handle.status()
    assert caught.value.status_code == 503 and caught.value.error_type == "runner_scheduling_failure"


async def test_a_slow_submit_answer_still_creates_the_task_a_client_that_gave_up_never_learns(
    api: Api, control: httpx.AsyncClient
) -> None:
    await control.delete("/_sim/requests")
    await arm(control, provider=api.provider, submit_delay_seconds=1.5, never_finish=True)
    before = {t["id"] for t in (await control.get("/_sim/tasks")).json()["tasks"]}
    with pytest.raises(httpx.ReadTimeout):
        await api.http.post(
            "/v1/image_to_video" if api.provider == "runway" else f"/{APP}",
            json=(
                {"model": "gen4_turbo", "promptImage": api.image, "ratio": "360:640", "duration": 5}
                if api.provider == "runway"
                else {"prompt": "slow zoom in", "image_url": api.image}
            ),
            headers=api.auth(api.keys[0]),
            timeout=httpx.Timeout(10, read=0.5),
        )
    created = [t for t in (await control.get("/_sim/tasks")).json()["tasks"] if t["id"] not in before]
    assert len(created) == 1  # accepted (and running) although the client never saw the answer
    await asyncio.sleep(1.5)
    (submit,) = (await control.get("/_sim/requests", params={"op": "submit"})).json()["requests"]
    assert submit["task_id"] == created[0]["id"] and submit["status"] == 200
    await api.cancel(created[0]["id"])

    started = time.monotonic()
    task_id = await api.create()  # the fault counted down: answered at once again
    assert time.monotonic() - started < 1.0
    await api.cancel(task_id)


async def test_with_tasks_scoped_per_key_another_key_gets_404(api: Api, control: httpx.AsyncClient) -> None:
    owner, other = api.keys
    scope = {"provider": api.provider, "task_scope": "key"}
    keys = (await control.post("/_sim/keys", json=scope)).json()["keys"]
    assert keys[api.provider]["task_scope"] == "key"
    try:
        await arm(control, provider=api.provider, never_finish=True)
        task_id = await api.create(owner)
        assert (await api.status(task_id, other)).status_code == 404
        if api.provider == "runway":
            assert (await api.http.delete(f"/v1/tasks/{task_id}", headers=api.auth(other))).status_code == 404
        else:
            path = f"/fal-ai/kling-video/requests/{task_id}/cancel"
            assert (await api.http.put(path, headers=api.auth(other))).status_code == 404
        assert await api.state(task_id) in ("PENDING", "RUNNING", "IN_QUEUE", "IN_PROGRESS")  # untouched
        assert (await api.cancel(task_id)).status_code in (202, 204)  # the owner's key can
    finally:
        await control.post("/_sim/keys", json={"provider": api.provider, "task_scope": "shared"})
    assert (await api.status(await api.create(owner), other)).status_code in (200, 202)  # shared again

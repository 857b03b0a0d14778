"""The instruments are recorded at their boundaries with the documented attributes: provider calls (video and image)
by outcome and error kind, credits moved by the ledger (not its replays), consumer handling time and step time."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from billing.domain import Hold, HoldState
from billing.ledger import credits_moved
from still_frame.images.base import ImageRefused, ImageRequest
from still_frame.images.metered import MeteredImages
from still_frame.render import BrandStyle
from svd.bus import consumer, topology
from svd.bus.consumer import Ack, Retry
from svd.telemetry import metrics
from video_gateway.metered import MeteredProvider
from video_gateway.providers.base import ErrorKind, ProviderError, TaskState, TaskStatus

Points = dict[str, list[tuple[dict[str, str], float]]]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch):
    """Every module-level instrument of `svd.telemetry.metrics`, recording into a reader of this test's own."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    for name, value in vars(metrics).copy().items():
        named = getattr(value, "name", None) or getattr(value, "_name", None)  # an SDK instrument, or the API's proxy
        spec = next((i for i in metrics.INSTRUMENTS if named == i.name), None)
        if spec is not None:
            monkeypatch.setattr(metrics, name, spec.counter(meter) if spec.kind == "counter" else spec.histogram(meter))

    def points() -> Points:
        found: Points = defaultdict(list)
        data = reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        found[metric.name].append((dict(point.attributes), value if value is not None else point.count))
        return found

    return points


class _Adapter:
    name = "runway"
    rate_provider = 1

    async def submit(self, request, key):
        raise ProviderError("slow down", ErrorKind.RATE_LIMITED, retry_after_s=3, http_status=429)

    async def status(self, task_id, key):
        return TaskStatus(TaskState.RUNNING)

    async def cancel(self, task_id, key):
        raise RuntimeError("bug")


async def test_video_provider_calls_by_outcome_and_error_kind(recorded) -> None:
    provider = MeteredProvider(_Adapter())
    with pytest.raises(ProviderError):
        await provider.submit(None, "k")  # type: ignore[arg-type]
    assert (await provider.status("t", "k")).state is TaskState.RUNNING
    with pytest.raises(RuntimeError):
        await provider.cancel("t", "k")
    found = recorded()
    outcomes = {(a["operation"], a["outcome"]) for a, _ in found["svd.provider.call.duration"]}
    assert outcomes == {("submit", "rate_limited"), ("status", "ok"), ("cancel", "unexpected")}
    errors = {(a["provider"], a["operation"], a["kind"]): n for a, n in found["svd.provider.call.errors"]}
    assert errors == {("runway", "submit", "rate_limited"): 1, ("runway", "cancel", "unexpected"): 1}


async def test_image_refusals_are_counted_by_kind(recorded) -> None:
    class Refusing:
        name = "openai"

        async def generate(self, request):
            raise ImageRefused("openai", "no", "moderation_blocked")

        async def aclose(self):
            pass

    request = ImageRequest("p", 10, 10, BrandStyle("#000000", "#111111", "#222222"), "s")
    with pytest.raises(ImageRefused):
        await MeteredImages(Refusing()).generate(request)
    assert recorded()["svd.provider.call.errors"] == [
        ({"provider": "openai", "operation": "image", "kind": "refused"}, 1)
    ]


def _hold(amount: int, consumed: int, state: HoldState) -> Hold:
    now = datetime.now(UTC)
    return Hold("r-1", "t-1", "ai_video_generation", amount, state, "j-1", consumed, "", now, now)


def test_credits_reserved_consumed_and_the_rest_released(recorded) -> None:
    credits_moved(_hold(15, 0, HoldState.HELD), "reserve")
    credits_moved(_hold(15, 12, HoldState.CONSUMED), "consume")
    credits_moved(_hold(25, 0, HoldState.RELEASED), "release")
    totals = {a["movement"]: n for a, n in recorded()["svd.credits"]}
    assert totals == {"reserved": 15, "consumed": 12, "released": 3 + 25}


def test_a_step_consumer_times_its_step_only_when_done(recorded) -> None:
    consumer._record_handling("media-store-ready", Retry(1.0), 0.2)
    consumer._record_handling("media-store-ready", Ack(), 0.5)
    consumer._record_handling("dispatcher-stored", ValueError("x"), 0.1)
    found = recorded()
    assert found["svd.job.step.duration"] == [({"step": "storing"}, 1)]
    handled = {(a["consumer"], a["outcome"]) for a, _ in found["svd.bus.handle.duration"]}
    assert handled == {("media-store-ready", "retry"), ("media-store-ready", "ack"), ("dispatcher-stored", "error")}


async def test_dead_letters_are_counted_by_consumer(recorded) -> None:
    class Publisher:
        async def publish(self, subject, message, msg_id):
            self.subject = subject

    publisher = Publisher()
    spec = topology.consumer("media-store-ready")
    await consumer._dead_letter(publisher, spec, "video.ready", b"x", {}, 7, "bad")  # type: ignore[arg-type]
    assert publisher.subject == "dlq.video.ready"
    assert recorded()["svd.bus.dead_letters"] == [({"consumer": "media-store-ready"}, 1)]

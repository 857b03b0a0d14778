"""Dead letters as operators see them (pure): filters, what a letter names, replay ids and headers."""

from __future__ import annotations

import pytest

from dispatcher.operations import letters as dl
from social_video.v1 import pipeline_pb2
from svd.bus import codec
from svd.errors import InvalidArgument
from svd_stack.client import copy_approved


def _letter(subject: str, payload: bytes, headers: dict[str, str]) -> bytes:
    return pipeline_pb2.DeadLetter(
        original_subject=subject, consumer="c", reason="why", payload=payload, headers=headers
    ).SerializeToString()


def test_subject_filters_read_the_dead_letter_subjects() -> None:
    assert dl.dlq_filter("") == "dlq.>"
    assert dl.dlq_filter("video.>") == "dlq.video.>"
    assert dl.dlq_filter(" social.post.copy_approved ") == "dlq.social.post.copy_approved"
    for bad in ("a..b", "a.>.b", "a b", "x" * 300):
        with pytest.raises(InvalidArgument):
            dl.dlq_filter(bad)


def test_a_letter_names_the_tenant_event_and_job_its_body_names() -> None:
    approval = copy_approved("t1", "p1", "e1")
    upstream = dl.read(
        7, _letter("social.post.copy_approved", codec.encode_json(approval), {"content-type": codec.JSON})
    )
    assert (upstream.id, upstream.tenant_id, upstream.event_id, upstream.job_id) == (7, "t1", "e1", "")
    assert '"socialPostId": "p1"' in dl.detail(upstream).body_json

    ready = pipeline_pb2.VideoReady(ref=pipeline_pb2.JobRef(job_id="j1", tenant_id="t2"))
    pipeline = dl.read(8, _letter("video.ready", codec.encode_binary(ready), {"content-type": codec.PROTOBUF}))
    assert (pipeline.tenant_id, pipeline.job_id) == ("t2", "j1")
    assert dl.summary(pipeline).size_bytes == len(codec.encode_binary(ready))

    garbage = dl.read(9, _letter("video.ready", b"\xff\xfe", {"content-type": codec.PROTOBUF}))
    assert garbage.body is None and dl.detail(garbage).body_json == ""
    unknown = dl.read(10, _letter("somewhere.else", b"{}", {}))
    assert unknown.body is None and unknown.subject == "somewhere.else"


def test_a_replay_gets_a_new_message_id_per_request_and_keeps_the_trace() -> None:
    first = dl.replay_message_id(5, "request-a")
    assert first == dl.replay_message_id(5, "request-a")
    assert first != dl.replay_message_id(5, "request-b") != dl.replay_message_id(6, "request-a")
    letter = dl.read(5, _letter("video.ready", b"", {"traceparent": "00-abc-def-01", "Nats-Msg-Id": "old"}))
    headers = dl.replay_headers(letter, first)
    assert headers == {"traceparent": "00-abc-def-01", "Nats-Msg-Id": first, dl.REPLAY_HEADER: "5"}

"""Which upstream event a review is, and what a review must say (pure)."""

from __future__ import annotations

import pytest

from dispatcher.review.domain import review_of
from social_video.v1 import posts_pb2, upstream_pb2
from svd.errors import InvalidArgument

APPROVE, REJECT = posts_pb2.REVIEW_DECISION_APPROVE, posts_pb2.REVIEW_DECISION_REJECT
CLIENT, DM = posts_pb2.REVIEWER_CLIENT, posts_pb2.REVIEWER_DM


def request(decision: int, reviewer: int, feedback: str = "", request_id: str = "") -> posts_pb2.ReviewVideoRequest:
    return posts_pb2.ReviewVideoRequest(
        job_id="job-1",
        decision=decision,  # type: ignore[arg-type]
        reviewer=reviewer,  # type: ignore[arg-type]
        feedback=feedback,
        reviewed_by="ana@brand.example",
        request_id=request_id,
    )


@pytest.mark.parametrize(
    ("decision", "reviewer", "subject", "kind"),
    [
        (APPROVE, CLIENT, "social.post.client_approved", upstream_pb2.ClientApproved),
        (APPROVE, DM, "social.post.client_approved", upstream_pb2.ClientApproved),
        (REJECT, CLIENT, "social.post.client_rejected", upstream_pb2.ClientRejected),
        (REJECT, DM, "social.post.design_rejected", upstream_pb2.DesignRejected),
    ],
)
def test_each_decision_is_the_routers_event(decision: int, reviewer: int, subject: str, kind: type) -> None:
    review = review_of(request(decision, reviewer, " slower pan "), "generated")
    event = review.event("tenant-1", "post-1")
    assert (review.subject, type(event)) == (subject, kind)
    assert (event.event_id, event.tenant_id, event.social_post_id) == (review.event_id, "tenant-1", "post-1")
    if isinstance(event, upstream_pb2.ClientApproved):
        assert decision == APPROVE and event.approved_by == "ana@brand.example"
    else:
        assert (event.reviewer_feedback, event.rejected_by) == ("slower pan", "ana@brand.example")


def test_the_same_request_is_the_same_event_and_another_is_not() -> None:
    first = review_of(request(APPROVE, CLIENT, request_id="r-1"), "a")
    assert first.event_id == review_of(request(APPROVE, CLIENT, request_id="r-1"), "b").event_id
    assert first.event_id != review_of(request(APPROVE, CLIENT), "a").event_id
    assert review_of(request(APPROVE, CLIENT), "a").event_id != review_of(request(APPROVE, CLIENT), "b").event_id


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (request(REJECT, CLIENT), "feedback is required"),
        (request(REJECT, DM, "  "), "feedback is required"),
        (request(REJECT, DM, "x" * 4001), "reviewer_feedback is longer"),
        (request(posts_pb2.REVIEW_DECISION_UNSPECIFIED, CLIENT), "decision"),
        (request(APPROVE, posts_pb2.REVIEWER_UNSPECIFIED), "reviewer"),
        (posts_pb2.ReviewVideoRequest(decision=APPROVE, reviewer=CLIENT), "job_id"),
    ],
)
def test_a_review_must_say_enough(bad: posts_pb2.ReviewVideoRequest, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        review_of(bad, "generated")

"""Which upstream event a review is (pure): approving is the client's approval whoever gives it (the upstream has one
approval event), rejecting is the client's or the DM's rejection with the reviewer's feedback."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from dispatcher import domain
from social_video.v1 import posts_pb2, upstream_pb2
from svd.bus import topology
from svd.errors import InvalidArgument

UpstreamDecision = upstream_pb2.ClientApproved | upstream_pb2.ClientRejected | upstream_pb2.DesignRejected
MAX_REVIEWED_BY = 200
MAX_REQUEST_ID = 200


@dataclass(frozen=True)
class Review:
    """A checked review of a job's video."""

    job_id: str
    approve: bool
    reviewer: str  # "client" or "dm"
    feedback: str
    reviewed_by: str
    request_id: str

    @property
    def subject(self) -> str:
        if self.approve:
            return topology.CLIENT_APPROVED
        return topology.CLIENT_REJECTED if self.reviewer == "client" else topology.DESIGN_REJECTED

    @property
    def event_id(self) -> str:
        """The event's id: the same for the same request (so a repeat is published once), else new each time."""
        digest = hashlib.sha256(f"{self.job_id}\n{self.request_id}".encode()).hexdigest()[:32]
        return f"review-{digest}"

    def event(self, tenant_id: str, social_post_id: str) -> UpstreamDecision:
        common = {"event_id": self.event_id, "tenant_id": tenant_id, "social_post_id": social_post_id}
        if self.approve:
            return upstream_pb2.ClientApproved(**common, approved_by=self.reviewed_by)
        kind = upstream_pb2.ClientRejected if self.reviewer == "client" else upstream_pb2.DesignRejected
        return kind(**common, reviewer_feedback=self.feedback, rejected_by=self.reviewed_by)


def review_of(request: posts_pb2.ReviewVideoRequest, request_id: str) -> Review:
    """The request checked (INVALID_ARGUMENT naming what is wrong); `request_id` stands in for an empty one."""
    if not request.job_id.strip():
        raise InvalidArgument("job_id is required")
    if request.decision not in (posts_pb2.REVIEW_DECISION_APPROVE, posts_pb2.REVIEW_DECISION_REJECT):
        raise InvalidArgument("decision must be REVIEW_DECISION_APPROVE or REVIEW_DECISION_REJECT")
    if request.reviewer not in (posts_pb2.REVIEWER_CLIENT, posts_pb2.REVIEWER_DM):
        raise InvalidArgument("reviewer must be REVIEWER_CLIENT or REVIEWER_DM")
    approve = request.decision == posts_pb2.REVIEW_DECISION_APPROVE
    feedback = request.feedback.strip()
    if not approve and not feedback:
        raise InvalidArgument("feedback is required to reject a video: say what the next run should change")
    domain.validate_feedback(feedback)
    reviewed_by = request.reviewed_by.strip()
    if len(reviewed_by) > MAX_REVIEWED_BY:
        raise InvalidArgument(f"reviewed_by is longer than {MAX_REVIEWED_BY} characters")
    if len(request.request_id) > MAX_REQUEST_ID:
        raise InvalidArgument(f"request_id is longer than {MAX_REQUEST_ID} characters")
    return Review(
        job_id=request.job_id,
        approve=approve,
        reviewer="client" if request.reviewer == posts_pb2.REVIEWER_CLIENT else "dm",
        feedback=feedback if not approve else "",
        reviewed_by=reviewed_by,
        request_id=request.request_id or request_id,
    )

"""gRPC (and Connect) `Posts`: a review by the caller's tenant key, or an admin's."""

from __future__ import annotations

from typing import Any

from dispatcher.review.domain import review_of
from dispatcher.review.usecase import VideoReviews
from social_video.v1 import posts_pb2, posts_pb2_grpc
from svd.grpc.auth import principal
from svd.ids import short_id


class PostsServicer(posts_pb2_grpc.PostsServicer):
    def __init__(self, reviews: VideoReviews) -> None:
        self._reviews = reviews

    async def ReviewVideo(self, request: posts_pb2.ReviewVideoRequest, context: Any) -> posts_pb2.ReviewVideoResponse:
        caller = principal()
        review = review_of(request, short_id())
        event_id = await self._reviews.review(review, caller.key_id, caller.can_see)
        return posts_pb2.ReviewVideoResponse(subject=review.subject, event_id=event_id)

"""`Posts.ReviewVideo`: people approve or reject a post's video, and the decision becomes the upstream event the DM
router would publish. `domain` decides which event (pure), `usecase` checks the post, records who did what and
publishes, `servicer` is the API."""

from dispatcher.review.servicer import PostsServicer
from dispatcher.review.usecase import VideoReviews

__all__ = ["PostsServicer", "VideoReviews"]

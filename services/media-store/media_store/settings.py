"""Media-store settings (environment)."""

from typing import Literal, Self

from pydantic import Field, model_validator

from svd.settings import BaseServiceSettings, DatabaseSettings, SpacesSettings

# Where the providers' output URLs live: Runway hands out CloudFront links, fal.ai (Kling) its own CDN and GCS.
DEFAULT_ALLOWED_HOSTS: dict[str, list[str]] = {
    "runway": ["dnznrvs05pmza.cloudfront.net", "*.runwayml.com"],
    "kling": ["fal.media", "*.fal.media", "storage.googleapis.com"],
}


class MediaSettings(BaseServiceSettings, DatabaseSettings, SpacesSettings):
    max_video_bytes: int = 2 * 1024 * 1024 * 1024
    download_timeout_s: float = 60.0  # connect / read / write timeout of one request
    download_deadline_s: float = 1800.0  # the whole transfer of one video, retries included
    download_attempts: int = 3
    download_backoff_s: float = 1.0
    # JSON: provider short name (runway, kling) → host patterns ("example.com", "*.example.com").
    download_allowed_hosts: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_ALLOWED_HOSTS))
    # Development only: plain HTTP to loopback (the local provider simulator).
    download_allow_loopback_http: bool = False
    part_size_bytes: int = 8 * 1024 * 1024
    parts_in_flight: int = 4
    store_call_attempts: int = 5  # botocore's attempts per S3 call (standard retry mode: backs off on SlowDown, 5xx)
    store_part_attempts: int = 4  # tries per multipart call on top of botocore's own retries
    # Presigned URLs (objects are private): GetDownloadUrl's default, and the one `video.stored` carries to the
    # client notification (it outlives a review session; GetDownloadUrl hands out fresh ones any time).
    download_url_ttl_s: int = Field(default=3600, gt=0, le=7 * 24 * 3600)
    stored_url_ttl_s: int = Field(default=24 * 3600, gt=0, le=7 * 24 * 3600)
    # An unfinished multipart upload older than this is a crashed attempt's leftover: aborted by the sweep; a run
    # left `uploading` this long (its job dead-lettered) has its objects deleted and is marked failed.
    stale_upload_s: float = 6 * 3600.0
    media_sweep_interval_s: float = 3600.0
    heartbeat_s: float = Field(default=10.0, gt=0)  # tell JetStream a long transfer is alive; renew the run's lease
    # A run's lease: a redelivery while it is alive waits; a crashed worker's lease is taken over once it expires.
    # A worker that cannot renew it stops before it expires (so two workers never upload one run at once).
    lease_ttl_s: float = Field(default=45.0, gt=0)
    # On SIGTERM running transfers get this long to finish; what still runs is cancelled, its upload aborted, its
    # lease released and its message handed back, so another replica starts it again at once.
    shutdown_grace_s: float = 60.0
    # The conform step (provider output → platform deliverable). The preset trades encode time for size at the
    # same bit rate: on 2 cores `veryfast` conforms a 5 s 720p clip to 1080x1920 in a few seconds (see
    # `make bench-conform`). CONFORM_THREADS 0 lets the decoder, the filters and libx264 use every core; N caps
    # each at N threads.
    conform_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = "veryfast"
    conform_threads: int = Field(default=0, ge=0)
    conform_timeout_s: float = Field(default=600.0, gt=0)
    # A provider output shorter than this share of the requested duration is a failed render, not padded out.
    conform_min_coverage: float = Field(default=0.8, gt=0, le=1)
    # Keep the provider's original next to the deliverable (named on the same Media record).
    keep_original: bool = False
    # Where the conform step's temporary files go (default: the system's temporary directory).
    conform_temp_dir: str | None = None

    @model_validator(mode="after")
    def _lease_outlives_heartbeats(self) -> Self:
        if self.lease_ttl_s < 3 * self.heartbeat_s:
            raise ValueError("LEASE_TTL_S must be at least three heartbeats (HEARTBEAT_S)")
        return self

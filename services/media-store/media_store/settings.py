"""Media-store settings (environment)."""

from pydantic import Field

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
    download_url_ttl_s: int = 3600
    # An unfinished multipart upload older than this is a crashed attempt's leftover: aborted at start-up.
    stale_upload_s: float = 6 * 3600.0
    heartbeat_s: float = 10.0  # tell JetStream a long transfer is still in progress

"""Media-store settings (environment)."""

from svd.settings import BaseServiceSettings, DatabaseSettings, SpacesSettings


class MediaSettings(BaseServiceSettings, DatabaseSettings, SpacesSettings):
    max_video_bytes: int = 2 * 1024 * 1024 * 1024
    download_timeout_s: float = 120.0
    download_attempts: int = 3
    part_size_bytes: int = 8 * 1024 * 1024
    parts_in_flight: int = 2
    download_url_ttl_s: int = 3600

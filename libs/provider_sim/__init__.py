"""provider_sim: an offline, real-HTTP simulator of the video providers' APIs.

It speaks Runway's ``image_to_video`` API (``X-Runway-Version: 2024-11-06``)
over HTTP and fal.ai's queue API for Kling over TLS with a local CA, so the
project's real adapters (httpx for Runway, the real ``fal-client`` for Kling)
run unchanged without network access. It really renders: the prompt image is
animated with a camera move read from the prompt text and encoded as an H.264
MP4 served from signed URLs. Faults, keys and a request journal are driven
through the ``/_sim`` control plane (see README.md).
"""

from provider_sim.motion import CameraMove, parse_motion
from provider_sim.render import RenderResult, render_mp4

__all__ = ["CameraMove", "RenderResult", "create_app", "parse_motion", "render_mp4"]


def __getattr__(name: str) -> object:
    # Importing the web app pulls in Starlette; keep `import provider_sim` light
    # for callers that only want render_mp4 / parse_motion.
    if name == "create_app":
        from provider_sim.app import create_app

        return create_app
    raise AttributeError(name)

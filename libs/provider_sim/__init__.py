"""provider_sim: an offline, real-HTTP simulator of Runway's image_to_video API.

It speaks the public wire protocol (``X-Runway-Version: 2024-11-06``) so the
project's real provider adapter can be exercised without network access, and
it really renders: the prompt image is animated with a camera move read from
the prompt text and encoded as an H.264 MP4 served from signed URLs.
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

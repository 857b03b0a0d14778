"""Still-frame settings (environment)."""

from svd.settings import BaseServiceSettings, SpacesSettings


class StillFrameSettings(BaseServiceSettings, SpacesSettings):
    pass

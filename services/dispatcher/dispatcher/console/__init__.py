"""The review console: a static web app (`static/`, no build step, no CDN) served by the dispatcher's HTTP listener
beside its Connect services, which it calls with the caller's API key (kept in the browser's session storage only);
media-store's Connect serves it the videos."""

from dispatcher.console.assets import console_app
from dispatcher.console.settings import ConsoleSettings

__all__ = ["ConsoleSettings", "console_app"]

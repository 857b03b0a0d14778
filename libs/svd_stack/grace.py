"""How long `svd down` lets a service drain after SIGTERM before it SIGKILLs it.

A service stops fetching on SIGTERM and lets running handlers finish for up to its `SHUTDOWN_GRACE_S`, then gives
in-flight RPCs a few seconds more (`svd.runtime.serve_until_stopped`). Killing it sooner would cancel paid work the
grace exists to protect, so the wait is the service's own grace (from the environment it starts with, else its
settings class's default) plus a margin. An idle service exits at once: the wait is only an upper bound.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

SETTING = "shutdown_grace_s"
# The RPC grace after the bus drain (at most 5 s), telemetry's last export, interpreter exit.
MARGIN_S = 15.0
# When a module declares no settings class of its own (test stand-ins): BaseServiceSettings' default.
FALLBACK_GRACE_S = 30.0


def default_grace(module: str) -> float:
    """`shutdown_grace_s`'s default in the BaseServiceSettings subclass that `<module>.settings` defines."""
    try:
        from svd.settings import BaseServiceSettings

        base_default = float(BaseServiceSettings.model_fields[SETTING].default)
        settings = importlib.import_module(f"{module}.settings")
    except ImportError:
        return FALLBACK_GRACE_S
    except Exception:  # a service's settings that do not import cannot start either; never block `down` on it
        log.warning("could not read %s from %s.settings", SETTING, module, exc_info=True)
        return FALLBACK_GRACE_S
    for value in vars(settings).values():
        if isinstance(value, type) and issubclass(value, BaseServiceSettings) and value.__module__ == settings.__name__:
            return float(value.model_fields[SETTING].default)
    return base_default


def grace(module: str, env: Mapping[str, str]) -> float:
    """The grace the service will run with: `SHUTDOWN_GRACE_S` in its environment (any case), else its default."""
    for key, value in env.items():
        if key.lower() == SETTING:
            try:
                return max(0.0, float(value))
            except ValueError:
                break  # the service itself refuses to start with it; the default is as good a bound as any
    return default_grace(module)


def stop_wait(module: str, env: Mapping[str, str]) -> float:
    """Seconds between SIGTERM and SIGKILL for the service `module` started with `env`."""
    return grace(module, env) + MARGIN_S

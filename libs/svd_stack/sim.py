"""Provider-simulator wiring for the dev stack: which providers it stands in for, the keys it accepts,
where its TLS files live, and its readiness probe. The component record itself is in `components.py`.

Which providers are simulated (`SVD_SIM_PROVIDERS`, comma separated: `runway`, `kling` (alias `fal`),
`none`): when unset, both are simulated as long as the user configured no provider key at all
(`RUNWAY_API_KEY(S)`, `FAL_API_KEY(S)`), and none otherwise, so real keys never meet simulated ones by
accident. A simulated provider accepts the stack's generated key plus any keys the user set for it
(so a test can hand the gateway a key pool of its own).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from pathlib import Path

import httpx

SIM_PROVIDERS = ("runway", "kling")
_ALIASES = {"runway": "runway", "kling": "kling", "fal": "kling"}
KEY_VARS: dict[str, tuple[str, str]] = {
    "runway": ("RUNWAY_API_KEY", "RUNWAY_API_KEYS"),
    "kling": ("FAL_API_KEY", "FAL_API_KEYS"),
}


class SimConfigError(ValueError):
    """SVD_SIM_PROVIDERS names something that is not a simulated provider."""


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").replace(" ", ",").split(",") if part.strip()]


def simulated(env: Mapping[str, str]) -> tuple[str, ...]:
    """The providers the simulator stands in for, in `SIM_PROVIDERS` order."""
    raw = env.get("SVD_SIM_PROVIDERS", "").strip()
    if raw:
        names = [name.lower() for name in _split(raw)]
        if names == ["none"]:
            return ()
        unknown = [name for name in names if name not in _ALIASES]
        if unknown:
            raise SimConfigError(f"SVD_SIM_PROVIDERS: unknown provider(s) {unknown}; use runway, kling or none")
        wanted = {_ALIASES[name] for name in names}
        return tuple(p for p in SIM_PROVIDERS if p in wanted)
    if any(env.get(var, "").strip() for pair in KEY_VARS.values() for var in pair):
        return ()
    return SIM_PROVIDERS


def user_keys(env: Mapping[str, str], provider: str) -> list[str]:
    single, many = KEY_VARS[provider]
    return [*_split(env.get(single)), *_split(env.get(many))]


def accepted_keys(env: Mapping[str, str], provider: str, generated: str) -> str:
    """Comma-separated keys the simulator accepts for `provider` (for PROVIDER_SIM_*_KEYS)."""
    keys = [generated, *(user_keys(env, provider) if provider in simulated(env) else [])]
    return ",".join(dict.fromkeys(keys))


def tls_dir(data_dir: Path) -> Path:
    return data_dir / "tls"


def ca_bundle(data_dir: Path) -> Path:
    """certifi's (or the user's SSL_CERT_FILE) roots plus the simulator's CA, written by the simulator."""
    return tls_dir(data_dir) / "ca-bundle.pem"


@functools.lru_cache(maxsize=8)
def _trusting(bundle: str, mtime_ns: int) -> ssl.SSLContext:
    """A TLS context trusting `bundle`, built once per version of the file (parsing a CA bundle is costly)."""
    return ssl.create_default_context(cafile=bundle)


def tls_ok(url: str, bundle: Path, timeout: float = 2.0) -> bool:
    """GET `url` over TLS answers 200 with the certificate verified against `bundle`."""
    if not bundle.is_file():
        return False
    try:
        with httpx.Client(verify=_trusting(str(bundle), bundle.stat().st_mtime_ns)) as client:
            return client.get(url, timeout=timeout).status_code == 200
    except (httpx.HTTPError, ssl.SSLError, OSError):
        return False

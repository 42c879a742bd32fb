"""Official ``orb-billing`` SDK clients wired to an ``OrbSim`` in-process (no network).

``orb`` is an optional dependency (``pip install 'orbsim[sdk]'``); it is imported only here, when
a client is asked for, so the rest of orbsim works without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from orbsim.wire.transport import AsyncOrbSimTransport, OrbSimTransport

if TYPE_CHECKING:
    import orb

    from orbsim.sim import OrbSim

BASE_URL = "http://orbsim.test/v1"
API_KEY = "test-key"

_MISSING_SDK = (
    "the official Orb SDK is not installed; install orbsim with the 'sdk' extra: "
    "pip install 'orbsim[sdk]'"
)


def _import_orb() -> Any:
    try:
        import orb
    except ImportError as exc:
        raise ImportError(_MISSING_SDK, name="orb") from exc
    return orb


def _client_options(kwargs: dict[str, Any], http_client: Callable[[], Any]) -> dict[str, Any]:
    """Orb's constructor arguments: caller's first, then orbsim's key, base URL and transport."""
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("base_url", BASE_URL)
    if "http_client" not in kwargs:
        kwargs["http_client"] = http_client()
    return kwargs


def build_client(sim: OrbSim, **kwargs: Any) -> orb.Orb:
    """``orb.Orb`` talking to ``sim``; any ``Orb(...)`` argument can be passed or overridden."""
    sdk = _import_orb()
    options = _client_options(kwargs, lambda: httpx.Client(transport=OrbSimTransport(sim)))
    client: orb.Orb = sdk.Orb(**options)
    return client


def build_async_client(sim: OrbSim, **kwargs: Any) -> orb.AsyncOrb:
    """``orb.AsyncOrb`` talking to ``sim``; any ``AsyncOrb(...)`` argument can be passed."""
    sdk = _import_orb()
    options = _client_options(
        kwargs, lambda: httpx.AsyncClient(transport=AsyncOrbSimTransport(sim))
    )
    client: orb.AsyncOrb = sdk.AsyncOrb(**options)
    return client

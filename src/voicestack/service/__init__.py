"""The voice service: ``voicestack serve`` (see docs/service.md).

:mod:`voicestack.service.core` is the transport-free core (pool, scheduler, synthesis
lifecycle); :mod:`voicestack.service.app` (HTTP, OpenAI-style) and
:mod:`voicestack.service.ws` (WebSocket) and :mod:`voicestack.service.wyoming` are adapters
over it, started side by side by :mod:`voicestack.service.transports`::

    from voicestack.service import ServiceConfig, create_app
    app = create_app(ServiceConfig(voices_dirs=("voices",)))   # any ASGI server
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicestack.service.core import ConfigError, Service, ServiceConfig

__all__ = ["ConfigError", "Service", "ServiceConfig", "create_app", "run"]


def __getattr__(name: str) -> Any:
    # nothing is imported with the package itself: the core needs prometheus-client and the
    # transports their own libraries (the 'serve' and 'wyoming' extras); the CLI imports
    # voicestack.service.transports (the family) on a plain install
    if name in ("ConfigError", "Service", "ServiceConfig"):
        from voicestack.service import core

        return getattr(core, name)
    if name == "create_app":
        from voicestack.service import app

        return app.create_app
    if name == "run":  # every transport asked for, over one Service
        from voicestack.service import transports

        return transports.run
    raise AttributeError(name)

"""The voice service: ``voicestack serve`` (see docs/service.md).

:mod:`voicestack.service.core` is the transport-free core (pool, scheduler, synthesis
lifecycle); :mod:`voicestack.service.app` (HTTP, OpenAI-style) and
:mod:`voicestack.service.ws` (WebSocket) are adapters over it::

    from voicestack.service import ServiceConfig, create_app
    app = create_app(ServiceConfig(voices_dirs=("/srv/voices",)))   # any ASGI server
"""

from __future__ import annotations

from typing import Any

from voicestack.service.core import ConfigError, Service, ServiceConfig

__all__ = ["ConfigError", "Service", "ServiceConfig", "create_app", "run"]


def __getattr__(name: str) -> Any:
    # the HTTP transport needs starlette (the 'serve' extra); the core does not
    if name in ("create_app", "run"):
        from voicestack.service import app

        return getattr(app, name)
    raise AttributeError(name)

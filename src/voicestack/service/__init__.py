"""The voice service: ``voicestack serve`` (see docs/service.md).

>>> from voicestack.service import ServiceConfig, create_app
>>> app = create_app(ServiceConfig(voices_dirs=(Path("/srv/voices"),)))   # any ASGI server
"""

from __future__ import annotations

from voicestack.service.app import create_app, run
from voicestack.service.config import ConfigError, ServiceConfig

__all__ = ["ConfigError", "ServiceConfig", "create_app", "run"]

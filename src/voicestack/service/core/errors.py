"""The one error every transport reports: a status (HTTP's numbers, which the other
transports map to their own codes), a message, the request field at fault and a kind.

Its body is OpenAI's shape, ``{"error": {"message": ..., "type": ..., "param": ...}}``.
Messages and field names are made safe to encode anywhere (a lone surrogate in a key
would otherwise break the JSON encoder of the error itself).
"""

from __future__ import annotations

from typing import Any


def printable(text: str, limit: int = 300) -> str:
    """``text`` encodable as UTF-8 (bad code points escaped), at most ``limit`` characters."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


class ServiceError(Exception):
    """A request the service refuses or could not complete."""

    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "invalid_request_error",
                 retry_after: int | None = None) -> None:
        self.status = status
        self.message = printable(message, 2000)
        self.param = None if param is None else printable(param, 200)
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param}}


class ClientGone(Exception):
    """The client went away (or stopped reading) before the response ended."""


def bad(param: str | None, message: str) -> ServiceError:
    return ServiceError(400, message, param)


def too_large(param: str | None, message: str) -> ServiceError:
    return ServiceError(413, message, param, "request_too_large")

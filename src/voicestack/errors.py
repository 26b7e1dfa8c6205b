"""Error types. Every message says where (a JSON path or a field), what was found and
what was expected, so a user can fix an addon or a request without reading our code."""

from __future__ import annotations

from collections.abc import Iterable


class VoicestackError(Exception):
    """Base class of every error voicestack raises on purpose."""


class SpecError(VoicestackError):
    """One or more problems in an addon manifest or stack, each tied to a JSON path."""

    def __init__(self, problems: Iterable[tuple[str, str]], *, source: str = "") -> None:
        self.problems: list[tuple[str, str]] = list(problems)
        self.source = source
        prefix = f"{source} " if source else ""
        lines = [f"{prefix}{path}: {message}" if path else f"{prefix}{message}" for path, message in self.problems]
        super().__init__("\n".join(lines))

    @classmethod
    def at(cls, path: str, message: str, *, source: str = "") -> SpecError:
        return cls([(path, message)], source=source)


class AddonNotFound(VoicestackError):
    """A voice name or path that does not resolve to an addon."""


class RuntimeUnavailable(VoicestackError):
    """A runtime or device named by a profile is not installed here."""


class NetworkLoadError(VoicestackError):
    """A runtime could not open a network (an op it lacks, a corrupt file)."""


class RequestError(VoicestackError, ValueError):
    """A bad synthesis request: `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class SynthesisCancelled(VoicestackError):
    """The consumer went away; synthesis stopped at the next chunk boundary."""

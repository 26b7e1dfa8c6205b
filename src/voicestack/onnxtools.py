"""ONNX graph tools shared by the manifest reader, the importers and the runtimes: a
network's declared inputs/outputs, sub-graph extraction, renaming, clean declarations and
atomic saving. ``onnx`` is imported only inside the functions that need it (importing it
costs most of the start-up), and a network's contract is recorded on disk so that a
voice loads without it.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from voicestack.paths import cache_dir, content_key, write_atomic
from voicestack.tensors import TensorDecl

# A network's contract (its real inputs/outputs and external data files), recorded on disk
# by the file's identity (path, size, mtime, inode) and checked against its SHA-256 when
# that identity changes: a voice whose networks were read once loads without importing
# onnx at all (most of the start-up time) and without hashing its weights.
RECORD_VERSION = 1
_records: dict[str, dict[str, Any]] = {}


def _identity(path: Path) -> tuple[str, str]:
    st = Path(path).stat()
    ident = f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    return ident, hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _record_file(name: str) -> Path:
    return cache_dir() / "contracts" / f"{name}.json"


def _read_onnx(path: Path) -> dict[str, Any]:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError) as err:
        raise ValueError(f"not an ONNX model ({type(err).__name__}: {err})") from None
    if not model.graph.node and not model.graph.output:
        raise ValueError("not an ONNX model (no graph in the file)")
    inits = {i.name for i in model.graph.initializer}

    def decl(v: Any) -> dict[str, Any]:
        t = v.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "float32"
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
        return {"dtype": dtype, "shape": dims}

    external = [e.value for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
                for e in t.external_data if e.key == "location"]
    return {"inputs": {v.name: decl(v) for v in model.graph.input if v.name not in inits},
            "outputs": {v.name: decl(v) for v in model.graph.output}, "external": external}


def network_record(path: Path) -> dict[str, Any]:
    """The contract of an ONNX file: ``inputs``/``outputs`` ({name: {dtype, shape}}) and
    ``external`` data files; from the on-disk record when the file is unchanged."""
    ident, name = _identity(path)
    record = _records.get(ident)
    if record is not None:
        return record
    stored = None
    try:
        stored = json.loads(_record_file(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    if isinstance(stored, dict) and stored.get("version") == RECORD_VERSION and stored.get("identity") == ident:
        record = stored
    else:
        digest = content_key(path)
        old = _records.get(digest)
        record = dict(old) if old is not None else {**_read_onnx(path), "sha256": digest}
        record.update(version=RECORD_VERSION, identity=ident)
        try:
            write_atomic(_record_file(name), json.dumps(record))
        except OSError:
            pass  # a read-only cache: the record is kept in memory only
        _records[digest] = record
    _records[ident] = record
    return record


def graph_io(path: Path) -> tuple[dict[str, TensorDecl], dict[str, TensorDecl]]:
    """The real inputs/outputs of an ONNX file (see :func:`network_record`). Raises ValueError."""
    record = network_record(path)
    return ({n: TensorDecl(d["dtype"], tuple(d["shape"])) for n, d in record["inputs"].items()},
            {n: TensorDecl(d["dtype"], tuple(d["shape"])) for n, d in record["outputs"].items()})


def external_data_files(path: Path) -> list[str]:
    """The ``location`` of every initializer stored outside the ONNX file."""
    return list(network_record(path)["external"])


class GraphIndex:
    """Producer/consumer index over one ONNX graph (read-only), what importers find cut
    points with: ``nodes``, ``producer`` (tensor -> node index), ``consumers``,
    ``initializers`` and ``inputs`` (the real ones, by name), ``outputs``."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.nodes = list(graph.node)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            for out in node.output:
                if out:
                    self.producer[out] = i
            for inp in node.input:
                if inp:
                    self.consumers.setdefault(inp, []).append(i)
        self.initializers = {t.name: t for t in graph.initializer}
        self.inputs = {v.name: v for v in graph.input if v.name not in self.initializers}
        self.outputs = list(graph.output)

    def node_of(self, tensor: str) -> Any | None:
        i = self.producer.get(tensor)
        return None if i is None else self.nodes[i]

    def ancestors(self, tensors: Iterable[str], stop: Iterable[str] = ()) -> set[int]:
        """Indices of the nodes that (transitively) produce ``tensors``, not crossing ``stop``."""
        stop_set = set(stop)
        seen: set[int] = set()
        todo = deque(t for t in tensors if t not in stop_set)
        while todo:
            i = self.producer.get(todo.popleft())
            if i is None or i in seen:
                continue
            seen.add(i)
            todo.extend(t for t in self.nodes[i].input if t and t not in stop_set)
        return seen

    def inputs_reached(self, tensors: Iterable[str], stop: Iterable[str] = ()) -> set[str]:
        """The graph inputs ``tensors`` are computed from (not crossing ``stop``)."""
        stop_set = set(stop)
        found = {t for t in tensors if t in self.inputs and t not in stop_set}
        for i in self.ancestors(tensors, stop):
            found.update(t for t in self.nodes[i].input if t in self.inputs and t not in stop_set)
        return found

    def descendants(self, tensors: Iterable[str]) -> set[int]:
        seen: set[int] = set()
        todo = deque(tensors)
        while todo:
            for i in self.consumers.get(todo.popleft(), ()):
                if i not in seen:
                    seen.add(i)
                    todo.extend(t for t in self.nodes[i].output if t)
        return seen


def rename(model: Any, mapping: Mapping[str, str]) -> None:
    """Rename tensors everywhere in a graph (node I/O and graph I/O)."""
    graph = model.graph
    for node in graph.node:
        for seq in (node.input, node.output):
            for k, name in enumerate(seq):
                if name in mapping:
                    seq[k] = mapping[name]
    for vi in (*graph.input, *graph.output):
        if vi.name in mapping:
            vi.name = mapping[vi.name]
    del graph.value_info[:]  # stale intermediate shapes (symbolic batch dims); runtimes re-infer


def declare(model: Any, io: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
    """Replace the graph's input/output declarations by the clean contract ``io``."""
    from onnx import TensorProto, helper

    elem = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64}
    for field_name in ("input", "output"):
        seq = getattr(model.graph, field_name)
        decls = io[field_name + "s"]
        kept = [vi.name for vi in seq]
        if sorted(kept) != sorted(decls):
            raise AssertionError(f"{field_name}s {kept} != {list(decls)}")  # our own bug
        del seq[:]
        for name, decl in decls.items():
            seq.append(helper.make_tensor_value_info(name, elem[decl["dtype"]], list(decl["shape"])))


def extract(model: Any, inputs: list[str], outputs: list[str]) -> Any:
    """onnx.utils.Extractor, tolerating cut tensors with no value_info (declared later)."""
    from onnx import ValueInfoProto
    from onnx.utils import Extractor

    extractor = Extractor(model)
    for name in (*inputs, *outputs):
        if name not in extractor.value_infos:
            extractor.value_infos[name] = ValueInfoProto(name=name)
    return extractor.extract_model(inputs, outputs)


def reads(model: Any, name: str) -> bool:
    """Whether any node of ``model`` reads the tensor ``name``."""
    return any(name in node.input for node in model.graph.node)


def save(model: Any, path: Path) -> Path:
    """Save an ONNX model so that a failure never leaves half a network behind."""
    import onnx

    return write_atomic(Path(path), lambda tmp: onnx.save(model, str(tmp)))

"""ONNX graph tools shared by the manifest reader, the importers and the runtimes: a
network's declared inputs/outputs, sub-graph extraction, renaming, clean declarations and
atomic saving. ``onnx`` is imported only inside the functions that need it (it costs
most of a second), and a network's I/O is remembered by content so it is read once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voicestack.paths import content_key, write_atomic
from voicestack.tensors import TensorDecl

_graph_io_cache: dict[str, tuple[dict[str, TensorDecl], dict[str, TensorDecl]]] = {}


def graph_io(path: Path) -> tuple[dict[str, TensorDecl], dict[str, TensorDecl]]:
    """The real inputs/outputs of an ONNX file (cached by content). Raises ValueError."""
    key = content_key(path)
    if key not in _graph_io_cache:
        import onnx
        from google.protobuf.message import DecodeError

        try:
            model = onnx.load(str(path), load_external_data=False)
        except (DecodeError, RuntimeError, ValueError, OSError) as err:
            raise ValueError(f"not an ONNX model ({type(err).__name__}: {err})") from None
        if not model.graph.node and not model.graph.output:
            raise ValueError("not an ONNX model (no graph in the file)")
        inits = {i.name for i in model.graph.initializer}

        def decl(v: Any) -> TensorDecl:
            t = v.type.tensor_type
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "float32"
            dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim)
            return TensorDecl(dtype, dims)

        ins = {v.name: decl(v) for v in model.graph.input if v.name not in inits}
        outs = {v.name: decl(v) for v in model.graph.output}
        _graph_io_cache[key] = (ins, outs)
    return _graph_io_cache[key]


def external_data_files(path: Path) -> list[str]:
    """The ``location`` of every initializer stored outside the ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    found = []
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            found.extend(e.value for e in tensor.external_data if e.key == "location")
    return found


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

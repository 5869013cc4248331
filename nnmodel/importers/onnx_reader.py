"""ONNX files (torch.onnx.export, skl2onnx, tf2onnx) as a graph.Graph, read with the `onnx` package."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NNModelError
from .graph import Graph, Node


def read_onnx(path: Path, raw: bytes) -> Graph:
    """The ONNX model in `raw`, the bytes of `path` (read once by the caller)."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load_model_from_string(raw)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises its own types, and protobuf's DecodeError
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise NNModelError(f"{path}: not a valid ONNX model ({first}); export it again") from None
    g = model.graph
    external = next((t.name for t in g.initializer if t.data_location == onnx.TensorProto.EXTERNAL), None)
    if external is not None:  # weights in other files: not read (not hashed by the pre-build, not size-checked)
        raise NNModelError(f"{path}: tensor {external} is kept in an external data file; save the model as one file "
                           "(onnx.save_model(model, path, save_as_external_data=False))")
    weights: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes: list[Node] = []
    for n in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Constant":  # a constant is a weight
            value = attrs.get("value")
            if value is not None:
                weights[n.output[0]] = numpy_helper.to_array(value)
            elif "value_float" in attrs or "value_int" in attrs:
                weights[n.output[0]] = np.asarray(attrs.get("value_float", attrs.get("value_int")))
            continue
        nodes.append(Node(n.op_type, n.name, list(n.input), list(n.output), {k: _plain(v) for k, v in attrs.items()}))
    inputs = [i for i in g.input if i.name not in weights]
    if len(inputs) != 1:
        raise NNModelError(f"{path}: {len(inputs)} graph inputs ({', '.join(i.name for i in inputs)}); nnmodel imports "
                           "a network with one input tensor")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    layout, batch = "NCHW", 0
    if len(dims) == 3:  # a sequence: [N, T, F], or [T, N, F] when it goes straight into a recurrent node
        found = _sequence_layout(nodes, inputs[0].name)
        if found is None:
            raise NNModelError(f"{path}: input {inputs[0].name} has shape {dims}; a 3-D input is a sequence for a "
                               "GRU, LSTM or RNN node (directly, or after the Transpose [1, 0, 2] of batch_first); "
                               "the importer takes [N, F], [N, T, F] or [N, C, H, W]")
        layout, batch = found, 1 if found == "TNF" else 0
    sizes = dims[:batch] + dims[batch + 1:]
    if len(dims) not in (2, 3, 4) or any(d is None or d < 1 for d in sizes):
        raise NNModelError(f"{path}: input {inputs[0].name} has shape {dims}; the importer takes [N, F], [N, T, F] "
                           "or [N, C, H, W] with fixed sizes after the batch axis")
    labels = _class_labels(weights)
    notes = [f"opset {max((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')), default=0)}, "
             f"producer {model.producer_name or '?'} {model.producer_version}".rstrip()]
    return Graph(nodes, weights, inputs[0].name, tuple(int(d) for d in sizes if d is not None), layout, str(path),
                 labels, notes)


def _sequence_layout(nodes: list[Node], name: str) -> str | None:
    """How a 3-D input lays out its sequences: "NTF" (batch first: torch's batch_first=True writes a
    Transpose [1, 0, 2] before the recurrent node; an ONNX layout=1 node reads it as is) or "TNF" (time
    first, torch's default); None when no recurrent node reads it."""
    for node in nodes:
        if node.inputs[:1] != [name] or node.op == "Shape":
            continue
        if node.op in ("Identity", "Dropout", "Cast"):  # removed by the lowering: look past them
            name = node.outputs[0]
            continue
        if node.op == "Transpose" and [int(v) for v in node.attrs.get("perm", [])] == [1, 0, 2]:
            return "NTF"
        if node.op in ("GRU", "LSTM", "RNN"):
            return "NTF" if int(node.attrs.get("layout", 0)) == 1 else "TNF"
        return None
    return None


def _plain(value: Any) -> Any:
    """Attribute values as Python numbers, strings and lists (bytes decoded)."""
    import onnx
    from onnx import numpy_helper

    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, onnx.TensorProto):  # e.g. ConstantOfShape's value
        return numpy_helper.to_array(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _class_labels(weights: dict[str, np.ndarray]) -> list[str]:
    """skl2onnx keeps a classifier's classes in an initializer named `classes`."""
    classes = weights.get("classes")
    if classes is None or classes.ndim != 1:
        return []
    return [c.decode() if isinstance(c, bytes) else str(c) for c in classes.tolist()]

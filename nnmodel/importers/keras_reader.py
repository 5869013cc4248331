"""Keras files as a graph.Graph, read with json, zipfile and h5py only (no keras, no TensorFlow).

    .keras  (Keras 3)  a zip: config.json (the model's layers) and model.weights.h5, whose groups
                       layers/<path>/vars hold each layer's variables as 0, 1, ... (the group's
                       attribute `name` is the layer's name; older files are matched by path)
    .h5     (legacy: Keras 2, and Keras 3's model.save("x.h5"))  the root attribute model_config
                       (JSON) and model_weights/<layer name>/, whose attribute weight_names lists
                       the variables in order

Sequential models and Functional models that are one chain (each layer called once, on the layer
before it) become nodes in ONNX's vocabulary and layouts, so graph.lower() treats them as it treats
an ONNX file; the layout is channels-last ("NHWC") unless the model's convolutions and pools say
channels_first:

    Dense (kernel [in, out])          -> Gemm, B = kernel.T, transB 1, C = bias; then its activation
    Conv2D (kernel [kh, kw, in, out]) -> Conv, W = kernel.transpose(3, 2, 0, 1); strides, dilations,
                                         group, pads ("same": the pads Keras adds; lower refuses them)
    DepthwiseConv2D                   -> Conv with group = channels (lower names the nearest form)
    BatchNormalization                -> BatchNormalization (gamma 1 without scale, beta 0 without center)
    MaxPooling2D, AveragePooling2D    -> MaxPool, AveragePool (kernel_shape, strides, pads)
    GlobalAverage/MaxPooling2D        -> GlobalAveragePool, GlobalMaxPool
    Flatten, Reshape to a vector      -> Flatten, Reshape [-1, n]
    Dropout and other noise layers    -> Dropout, Identity (removed at inference)
    Activation, activation=, ReLU, LeakyReLU, Softmax, ELU, PReLU
        relu -> Relu, relu6 / ReLU(max_value=m) -> Clip(0, m), hard_tanh -> Clip(-1, 1),
        sigmoid, tanh, softmax, elu, selu, gelu, softplus, softsign, log_softmax -> the ONNX op,
        hard_sigmoid -> HardSigmoid (Keras 3: relu6(x + 3) / 6, alpha 1/6; Keras 2: alpha 0.2),
        hard_silu / hard_swish -> HardSwish, leaky_relu -> LeakyRelu (alpha = negative_slope),
        linear -> nothing
    Rescaling, Normalization          -> folded into the Dense or Conv2D after them (x·s + o)
    GRU, LSTM, SimpleRNN              -> GRU, LSTM, RNN nodes (layout 1: [N, T, F] as Keras has it), W = kernel.T,
                                         R = recurrent_kernel.T; the gate blocks of LSTM (i,f,c,o) moved to
                                         ONNX's i,o,f,c (a GRU's z,r,h is ONNX's order); then a Squeeze of Y_h
                                         (return_sequences=False) or of Y (True: another recurrent layer reads it)
    InputLayer                        -> the input's shape (an (H, W) input is an image of one channel, a (T, F)
                                         input read by a recurrent layer a sequence)

Other layers (bidirectional and convolutional recurrences, 1-D and 3-D convolutions, Embedding,
LayerNormalization, Lambda, ...) and branching models are one NNModelError naming the layer, its class
and the nearest supported form.
"""
from __future__ import annotations

import io
import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NNModelError
from ..fsutil import MAX_MODEL_BYTES
from .graph import Graph, Node

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MODEL_CLASSES = ("Sequential", "Functional", "Model")
SAVE_HINT = "save the model with model.save('model.keras')"
NORMALIZATION_EPSILON = 1e-7  # keras.backend.epsilon(), the floor of Normalization's sqrt(variance)

# Activation names (activation= and Activation layers) that are one ONNX op without parameters.
PLAIN_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax",
                     "hard_silu": "HardSwish", "hard_swish": "HardSwish", "elu": "Elu", "selu": "Selu",
                     "gelu": "Gelu", "softplus": "Softplus", "softsign": "Softsign", "log_softmax": "LogSoftmax"}
SUPPORTED_ACTIVATIONS = "relu, relu6, hard_tanh, sigmoid, tanh, hard_sigmoid, hard_silu or leaky_relu"
# Layers that are the identity at inference.
REMOVED = {"Dropout": "Dropout", "SpatialDropout1D": "Dropout", "SpatialDropout2D": "Dropout",
           "SpatialDropout3D": "Dropout", "AlphaDropout": "Dropout", "GaussianDropout": "Dropout",
           "GaussianNoise": "Identity", "ActivityRegularization": "Identity"}
SPATIAL = ("Conv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D")
RECURRENT = "a forward GRU, LSTM or SimpleRNN (return_sequences=False) followed by Dense"
RECURRENT_LAYERS = {"GRU": "GRU", "LSTM": "LSTM", "SimpleRNN": "RNN"}  # Keras class -> ONNX op
DEFAULT_NEAREST = "Dense, Conv2D, MaxPooling2D, BatchNormalization, Flatten, Dropout and the activations of " \
                  "docs/import.md"
# Layers the reader refuses itself, with what to use instead (Keras terms).
NEAREST = {
    "Bidirectional": RECURRENT,
    "ConvLSTM1D": RECURRENT, "ConvLSTM2D": RECURRENT, "RNN": RECURRENT, "TimeDistributed": RECURRENT,
    "Conv1D": "Conv2D on an (H, W, C) input (valid padding, stride 1)",
    "Conv3D": "Conv2D on an (H, W, C) input (valid padding, stride 1)",
    "SeparableConv1D": "Conv2D (groups 1, stride 1, valid padding)",
    "SeparableConv2D": "Conv2D (groups 1, stride 1, valid padding)",
    "Conv1DTranspose": "Conv2D (stride 1, valid padding)",
    "Conv2DTranspose": "Conv2D (stride 1, valid padding)",
    "MaxPooling1D": "MaxPooling2D on an image", "AveragePooling1D": "MaxPooling2D on an image",
    "GlobalAveragePooling1D": "Flatten, then Dense", "GlobalMaxPooling1D": "Flatten, then Dense",
    "Embedding": "a numeric or one-hot input to Dense",
    "LayerNormalization": "BatchNormalization (folded into the Dense or Conv2D before it)",
    "GroupNormalization": "BatchNormalization (folded into the Dense or Conv2D before it)",
    "UnitNormalization": "BatchNormalization (folded into the Dense or Conv2D before it)",
    "Lambda": "built-in layers (a Lambda's Python code is not in the file)",
    "TFOpLambda": "built-in layers (TensorFlow operations are not in the file)",
    "Attention": "Dense", "MultiHeadAttention": "Dense", "EinsumDense": "Dense",
    "ThresholdedReLU": "ReLU or LeakyReLU",
    "UpSampling2D": "MaxPooling2D or Conv2D (valid padding)", "Cropping2D": "Conv2D (valid padding)",
}


@dataclass
class _Affine:
    """A pending x·scale + offset (Rescaling, Normalization) over the running tensor's shape."""

    scale: np.ndarray
    offset: np.ndarray
    layers: list[str]


class _Weights:
    """Each layer's variables in the order Keras saves them (kernel, bias; gamma, beta, mean, variance)."""

    def __init__(self, h5: Any, legacy: bool):
        self.h5, self.legacy = h5, legacy
        self.by_name: dict[str, Any] = {}
        self.by_path: dict[str, Any] = {}
        if not legacy:
            self.h5.visititems(self._index)

    def _index(self, name: str, obj: Any) -> None:
        if name.startswith("layers/") and name.endswith("/vars") and not hasattr(obj, "shape"):
            self.by_path[name[:-len("/vars")]] = obj
            label = _text(obj.attrs.get("name", ""))
            if label:
                self.by_name.setdefault(label, obj)

    def arrays(self, layer: str, path: str, cell: bool = False) -> list[np.ndarray] | None:
        """cell: a recurrent layer, whose .keras variables sit in its cell's group (layers/gru/cell/vars)."""
        if self.legacy:
            group = self.h5.get(layer)
            if group is None:
                return None
            return [np.asarray(group[_text(n)][()]) for n in group.attrs.get("weight_names", [])]
        group = self.by_name.get(layer, self.by_path.get(path))
        if cell:
            base = str(group.name).strip("/").removesuffix("/vars") if group is not None else path
            group = self.by_path.get(base + "/cell")
        if group is None:
            return None
        return [np.asarray(group[k][()]) for k in sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)]


def read_keras(path: Path, raw: bytes) -> Graph:
    """The Keras model in `raw`, the bytes of `path` (.keras zip or legacy HDF5 .h5, read once by the
    caller), as a Graph in ONNX's vocabulary."""
    head = raw[:8]
    if head.startswith(ZIP_MAGIC):
        return _read_zip(path, raw)
    if head.startswith(HDF5_MAGIC):
        return _read_hdf5(path, raw)
    raise NNModelError(f"{path}: not a Keras file (neither a .keras zip nor an HDF5 .h5); {SAVE_HINT}")


def _read_zip(path: Path, raw: bytes) -> Graph:
    import h5py

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            names = z.namelist()
            big = next((i for i in z.infolist() if i.file_size > MAX_MODEL_BYTES), None)
            if big is not None:  # a small zip may inflate a thousandfold: refused from its declared size
                raise NNModelError(f"{path}: {big.filename} inflates to {big.file_size} bytes, more than any model "
                                   f"file nnmodel reads ({MAX_MODEL_BYTES} max); is this the right file?")
            if "config.json" not in names:
                raise NNModelError(f"{path}: a zip without config.json, not a Keras 3 .keras model; {SAVE_HINT}")
            if "model.weights.h5" not in names:
                raise NNModelError(f"{path}: no model.weights.h5 in the .keras file (sharded or .npz weights are "
                                   f"not read); {SAVE_HINT}")
            config_text = z.read("config.json")
            metadata = z.read("metadata.json") if "metadata.json" in names else b"{}"
            weights_bytes = z.read("model.weights.h5")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError) as exc:
        raise NNModelError(f"{path}: damaged .keras file ({_why(exc)}); {SAVE_HINT}") from None
    config = _json(path, config_text, "config.json")
    meta = _json(path, metadata, "metadata.json")
    version = str(meta.get("keras_version", "3")) if isinstance(meta, dict) else "3"
    try:
        h5 = h5py.File(io.BytesIO(weights_bytes), "r")
    except (OSError, ValueError) as exc:
        raise NNModelError(f"{path}: model.weights.h5 is not readable HDF5 ({_why(exc)}); {SAVE_HINT}") from None
    with h5:
        return _guarded(path, lambda: _Reader(path, config, _Weights(h5, False), version, "keras").graph())


def _read_hdf5(path: Path, raw: bytes) -> Graph:
    import h5py

    try:
        f = h5py.File(io.BytesIO(raw), "r")
    except (OSError, ValueError) as exc:
        raise NNModelError(f"{path}: damaged HDF5 file ({_why(exc)}); {SAVE_HINT}") from None
    with f:
        if "model_config" not in f.attrs:
            raise NNModelError(f"{path}: an HDF5 file without model_config: it holds weights only "
                               f"(model.save_weights), not the layers; {SAVE_HINT}")
        config = _json(path, f.attrs["model_config"], "model_config")
        version = _text(f.attrs.get("keras_version", "2"))
        if "model_weights" not in f:
            raise NNModelError(f"{path}: no model_weights group in the HDF5 file (saved without weights?); "
                               f"{SAVE_HINT}")
        weights = _Weights(f["model_weights"], True)
        return _guarded(path, lambda: _Reader(path, config, weights, version, "h5").graph())


def _guarded(path: Path, read: Any) -> Graph:
    """h5py's own errors (a truncated or damaged dataset) as one line."""
    try:
        graph: Graph = read()
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise NNModelError(f"{path}: cannot read the model's weights or config ({_why(exc)}); {SAVE_HINT}") from None
    return graph


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _json(path: Path, raw: Any, what: str) -> Any:
    try:
        return json.loads(_text(raw))
    except ValueError as exc:
        raise NNModelError(f"{path}: {what} is not valid JSON ({_why(exc)}); {SAVE_HINT}") from None


def _snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: the path a layer's variables are saved under."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _pair(value: Any, default: int) -> tuple[int, int]:
    if value is None:
        return default, default
    if isinstance(value, (int, float)):
        return int(value), int(value)
    return int(value[0]), int(value[-1])


def _pads(size: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int], dilations: tuple[int, int],
          padding: str) -> list[int]:
    """ONNX pads [top, left, bottom, right]: none for "valid", what Keras adds for "same" (the odd one at the end)."""
    if padding != "same":
        return [0, 0, 0, 0]
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations):
        span = d * (k - 1) + 1
        total = max((math.ceil(n / s) - 1) * s + span - n, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


def _out(n: int, k: int, s: int, d: int, padding: str) -> int:
    return math.ceil(n / s) if padding == "same" else (n - d * (k - 1) - 1) // s + 1


class _Reader:
    def __init__(self, path: Path, config: Any, weights: _Weights, version: str, container: str):
        self.path, self.config, self.store, self.version, self.container = path, config, weights, version, container
        self.keras2 = version.split(".")[0] in ("1", "2")
        self.nodes: list[Node] = []
        self.weights: dict[str, np.ndarray] = {}
        self.notes: list[str] = []
        self.current = ""  # the running tensor
        self.shape: tuple[int, ...] = ()  # its shape as Keras has it, without the batch axis
        self.layout = "NHWC"
        self.pending: _Affine | None = None
        self.paths: dict[str, str] = {}  # layer name -> where a .keras file without names keeps its variables

    def fail(self, layer: dict, why: str) -> NNModelError:
        return NNModelError(f"{self.path}: layer {_name(layer)} ({layer.get('class_name', '?')}): {why}")

    # ------------------------------------------------------------------ structure
    def graph(self) -> Graph:
        top = self.config
        if not isinstance(top, dict) or not isinstance(top.get("config"), dict):
            raise NNModelError(f"{self.path}: the model config is not a Keras model description; {SAVE_HINT}")
        cls = str(top.get("class_name", "?"))
        layers = top["config"].get("layers")
        if cls not in MODEL_CLASSES or not isinstance(layers, list) or not all(isinstance(v, dict) for v in layers):
            raise NNModelError(f"{self.path}: a {cls} model whose file lists no layers (a subclassed model?); "
                               "nnmodel imports Sequential and Functional models")
        if cls == "Sequential":
            input_name, shape, chain = self.sequential(top["config"], layers)
            saved = [v for v in layers if v.get("class_name") != "InputLayer"]
        else:
            input_name, shape, chain = self.functional(top["config"], layers)
            saved = layers
        used: dict[str, int] = {}
        for v in saved:
            base = _snake(str(v.get("class_name", "")))
            used[base] = used.get(base, -1) + 1
            self.paths[_name(v)] = "layers/" + (base if used[base] == 0 else f"{base}_{used[base]}")
        self.layout = self.data_layout(chain)
        self.current, self.shape = input_name, shape
        graph_shape, graph_layout = shape, self.layout
        first = next((str(v.get("class_name")) for v in chain if v.get("class_name") not in
                      ("InputLayer", "Rescaling", "Normalization", *REMOVED)), "")
        if len(shape) == 2 and first in RECURRENT_LAYERS:  # (T, F): a sequence, one step of F values per row
            graph_layout = "NTF"
            self.notes.append(f"input {input_name} {shape[0]}x{shape[1]} read as a sequence of {shape[0]} steps of "
                              f"{shape[1]} values")
        elif len(shape) == 2:  # (H, W): an image of one channel (Flatten gives the same order)
            graph_shape = (1,) + shape if self.layout == "NCHW" else shape + (1,)
            self.notes.append(f"input {input_name} {shape[0]}x{shape[1]} read as an image of one channel")
        for layer in chain:
            self.layer(layer)
        if self.pending is not None:
            raise NNModelError(f"{self.path}: layer {self.pending.layers[-1]} (Rescaling/Normalization) is not "
                               "followed by a Dense or Conv2D to fold it into; nearest supported form: scale the "
                               "samples instead")
        kind = ".keras" if self.container == "keras" else "legacy .h5"
        self.notes.insert(0, f"keras {self.version} {kind}, {cls} of {len(chain)} layers")
        return Graph(self.nodes, self.weights, input_name, graph_shape, graph_layout, str(self.path), [], self.notes)

    def input_shape(self, layer: dict, shape: Any) -> tuple[int, ...]:
        if not isinstance(shape, list) or len(shape) < 2 or any(not isinstance(d, int) or d < 1 for d in shape[1:]):
            raise self.fail(layer, f"input shape {shape}; nnmodel needs fixed sizes after the batch axis, e.g. "
                                   "keras.Input((8, 8, 1))")
        return tuple(int(d) for d in shape[1:])

    def sequential(self, config: dict, layers: list[dict]) -> tuple[str, tuple[int, ...], list[dict]]:
        if not layers:
            raise NNModelError(f"{self.path}: a Sequential model without layers")
        first = layers[0]
        c = first.get("config", {})
        batch = c.get("batch_shape", c.get("batch_input_shape"))
        if batch is None:
            batch = config.get("build_input_shape")
        if batch is None:
            raise NNModelError(f"{self.path}: the Sequential model names no input shape (built without keras.Input); "
                               "add keras.Input(shape) as its first layer and save it again")
        shape = self.input_shape(first, batch)
        if first.get("class_name") == "InputLayer":
            return _name(first), shape, layers[1:]
        return "input", shape, layers

    def functional(self, config: dict, layers: list[dict]) -> tuple[str, tuple[int, ...], list[dict]]:
        by_name = {_name(v): v for v in layers}
        ins, outs = _refs(config.get("input_layers")), _refs(config.get("output_layers"))
        if len(ins) != 1 or len(outs) != 1:
            which = "inputs" if len(ins) != 1 else "outputs"
            names = ", ".join(ins if len(ins) != 1 else outs) or "none"
            raise NNModelError(f"{self.path}: the model has {len(ins) if len(ins) != 1 else len(outs)} {which} "
                               f"({names}); nnmodel imports a model with one input and one output")
        chain: list[dict] = []
        name, seen = outs[0], set()
        while name != ins[0]:
            layer = by_name.get(name)
            if layer is None or name in seen:
                raise NNModelError(f"{self.path}: layer {name} is not described in the model config; {SAVE_HINT}")
            seen.add(name)
            calls = layer.get("inbound_nodes") or []
            if len(calls) != 1:
                raise self.fail(layer, f"called {len(calls)} times (a shared layer); nnmodel imports a single chain "
                                       "of layers, each called once")
            sources = _sources(calls[0])
            if len(sources) != 1:
                raise self.fail(layer, f"joins {len(sources)} branches ({', '.join(sources) or 'none'}); nnmodel "
                                       "imports a single chain of layers (no skip connections or parallel branches)")
            chain.append(layer)
            name = sources[0]
        first = by_name.get(ins[0])
        if first is None or first.get("class_name") != "InputLayer":
            raise NNModelError(f"{self.path}: input {ins[0]} is not an InputLayer; {SAVE_HINT}")
        c = first.get("config", {})
        shape = self.input_shape(first, c.get("batch_shape", c.get("batch_input_shape")))
        return ins[0], shape, chain[::-1]

    def data_layout(self, chain: list[dict]) -> str:
        formats = {str(v.get("config", {}).get("data_format") or "channels_last") for v in chain
                   if v.get("class_name") in SPATIAL}
        if len(formats) > 1:
            raise NNModelError(f"{self.path}: the model mixes channels_first and channels_last layers; nnmodel "
                               "imports one layout (channels_last)")
        return "NCHW" if formats == {"channels_first"} else "NHWC"

    # ------------------------------------------------------------------ nodes
    def emit(self, op: str, name: str, consts: tuple[tuple[str, np.ndarray | None], ...] = (),
             attrs: dict[str, Any] | None = None) -> None:
        inputs = [self.current]
        for key, value in consts:
            if value is None:
                inputs.append("")
                continue
            self.weights[f"{name}/{key}"] = np.asarray(value, np.float64)
            inputs.append(f"{name}/{key}")
        self.nodes.append(Node(op, name, inputs, [name], dict(attrs or {})))
        self.current = name

    def arrays(self, layer: dict, names: list[str], cell: bool = False) -> list[np.ndarray]:
        found = self.store.arrays(_name(layer), self.paths.get(_name(layer), ""), cell)
        if found is None or len(found) < len(names):
            have = 0 if found is None else len(found)
            raise self.fail(layer, f"weight {names[have]} missing from the file (expected {len(names)} arrays: "
                                   f"{', '.join(names)}; found {have}); {SAVE_HINT}")
        return [np.asarray(a, np.float64) for a in found[:len(names)]]

    def expect(self, layer: dict, what: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
        if array.shape != shape:
            raise self.fail(layer, f"{what} has shape {list(array.shape)}, expected {list(shape)} for its input "
                                   f"{list(self.shape)}; {SAVE_HINT}")

    def layer(self, layer: dict) -> None:
        cls = str(layer.get("class_name", "?"))
        c = layer.get("config", {})
        if not isinstance(c, dict):
            raise self.fail(layer, "no config; " + SAVE_HINT)
        if cls in MODEL_CLASSES or "layers" in c:
            raise self.fail(layer, "a model inside the model; nnmodel imports one flat Sequential or Functional "
                                   "model: build it with the inner model's layers in line")
        dtype = c.get("dtype")
        if c.get("quantization_config") or (isinstance(dtype, dict) and "Quantized" in str(dtype.get("class_name"))):
            raise self.fail(layer, "a quantized Keras layer; import the float model (before model.quantize()): "
                                   "nnmodel quantizes it itself")
        if self.pending is not None and cls not in ("Dense", "Conv2D", "Flatten", "Reshape", "Rescaling",
                                                    "Normalization", "InputLayer") and cls not in REMOVED \
                and cls not in RECURRENT_LAYERS:
            raise self.fail(layer, f"follows {self.pending.layers[-1]} (Rescaling/Normalization), which nnmodel "
                                   "folds into the Dense or Conv2D right after it; nearest supported form: Rescaling "
                                   "directly before a Dense or Conv2D")
        handler = getattr(self, f"on_{cls}", None)
        if handler is not None:
            handler(layer, c)
        elif cls in REMOVED:
            self.emit(REMOVED[cls], _name(layer))
        elif cls != "InputLayer":
            raise self.fail(layer, f"not supported; nearest supported form: {NEAREST.get(cls, DEFAULT_NEAREST)}")

    # on_<Keras class>: one handler per layer class, named as the config names it
    def on_Dense(self, layer: dict, c: dict) -> None:
        name, units = _name(layer), int(c.get("units", 0))
        use_bias = c.get("use_bias", True)
        got = self.arrays(layer, ["kernel", "bias"] if use_bias else ["kernel"])
        kernel, bias = got[0], got[1] if use_bias else np.zeros(units)
        fan_in = self.shape[-1]
        self.expect(layer, "kernel", kernel, (fan_in, units))
        self.expect(layer, "bias", bias, (units,))
        if self.pending is not None:
            scale, offset = self.fold(layer, (fan_in,))
            kernel, bias = kernel * scale[:, None], bias + offset @ kernel
        self.emit("Gemm", name, (("B", kernel.T), ("C", bias)), {"transB": 1})
        self.shape = self.shape[:-1] + (units,)
        self.activation(layer, c.get("activation"))

    def conv_geometry(self, layer: dict, c: dict, k: tuple[int, int]) -> tuple[dict[str, Any], tuple[int, int, int]]:
        """Conv/pool attributes and the output's (h, w) with the input's channel count."""
        if len(self.shape) != 3:
            raise self.fail(layer, f"needs an image input (H, W, C), gets {list(self.shape)}")
        strides, dilations = _pair(c.get("strides"), 1), _pair(c.get("dilation_rate"), 1)
        padding = str(c.get("padding", "valid")).lower()
        if padding not in ("valid", "same"):
            raise self.fail(layer, f"padding {padding!r}; nearest supported form: padding='valid'")
        h, w, ch = (self.shape[1], self.shape[2], self.shape[0]) if self.layout == "NCHW" else self.shape
        attrs = {"kernel_shape": list(k), "strides": list(strides), "dilations": list(dilations),
                 "pads": _pads((h, w), k, strides, dilations, padding)}
        oh = _out(h, k[0], strides[0], dilations[0], padding)
        ow = _out(w, k[1], strides[1], dilations[1], padding)
        if oh < 1 or ow < 1:
            raise self.fail(layer, f"window {k[0]}x{k[1]} does not fit the {h}x{w} input")
        return attrs, (oh, ow, ch)

    def map_shape(self, h: int, w: int, c: int) -> tuple[int, int, int]:
        return (c, h, w) if self.layout == "NCHW" else (h, w, c)

    def on_Conv2D(self, layer: dict, c: dict) -> None:
        name, filters = _name(layer), int(c.get("filters", 0))
        groups, use_bias = int(c.get("groups", 1) or 1), c.get("use_bias", True)
        k = _pair(c.get("kernel_size"), 1)
        attrs, (oh, ow, ch) = self.conv_geometry(layer, c, k)
        got = self.arrays(layer, ["kernel", "bias"] if use_bias else ["kernel"])
        kernel, bias = got[0], got[1] if use_bias else np.zeros(filters)
        self.expect(layer, "kernel", kernel, (k[0], k[1], ch // max(groups, 1), filters))
        self.expect(layer, "bias", bias, (filters,))
        if self.pending is not None:
            if groups != 1:
                raise self.fail(layer, "a Rescaling/Normalization before a grouped Conv2D cannot be folded; "
                                       "nearest supported form: Conv2D with groups 1")
            scale, offset = self.fold(layer, (ch,), per_channel=True)
            if np.any(offset != 0) and any(attrs["pads"]):
                raise self.fail(layer, "a Rescaling/Normalization offset cannot be folded into a padded Conv2D; "
                                       "nearest supported form: padding='valid'")
            bias = bias + np.einsum("hwio,i->o", kernel, offset)
            kernel = kernel * scale[None, None, :, None]
        self.emit("Conv", name, (("W", kernel.transpose(3, 2, 0, 1)), ("B", bias)), dict(attrs, group=groups))
        self.shape = self.map_shape(oh, ow, filters)
        self.activation(layer, c.get("activation"))

    def on_DepthwiseConv2D(self, layer: dict, c: dict) -> None:
        name, mult, use_bias = _name(layer), int(c.get("depth_multiplier", 1)), c.get("use_bias", True)
        k = _pair(c.get("kernel_size"), 1)
        attrs, (oh, ow, ch) = self.conv_geometry(layer, c, k)
        got = self.arrays(layer, ["depthwise_kernel", "bias"] if use_bias else ["depthwise_kernel"])
        kernel, bias = got[0], got[1] if use_bias else np.zeros(ch * mult)
        self.expect(layer, "depthwise_kernel", kernel, (k[0], k[1], ch, mult))
        w = kernel.reshape(k[0], k[1], 1, ch * mult).transpose(3, 2, 0, 1)  # output channel c·mult + m
        self.emit("Conv", name, (("W", w), ("B", bias)), dict(attrs, group=ch))
        self.shape = self.map_shape(oh, ow, ch * mult)
        self.activation(layer, c.get("activation"))

    def on_BatchNormalization(self, layer: dict, c: dict) -> None:
        axis = c.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        rank = len(self.shape) + 1
        channel = 1 if self.layout == "NCHW" and rank == 4 else rank - 1
        if not isinstance(axis, int) or axis % rank != channel:
            raise self.fail(layer, f"axis {axis}; nnmodel folds a BatchNormalization over the channels (axis "
                                   f"{channel - rank}) into the layer before it")
        scale, center = c.get("scale", True), c.get("center", True)
        names = (["gamma"] if scale else []) + (["beta"] if center else []) + ["moving_mean", "moving_variance"]
        got = dict(zip(names, self.arrays(layer, names)))
        n = self.shape[channel - 1]
        gamma, beta = got.get("gamma", np.ones(n)), got.get("beta", np.zeros(n))
        for what in names:
            self.expect(layer, what, got[what], (n,))
        self.emit("BatchNormalization", _name(layer), (("scale", gamma), ("bias", beta), ("mean", got["moving_mean"]),
                                                       ("var", got["moving_variance"])),
                  {"epsilon": float(c.get("epsilon", 1e-3))})

    def recurrent(self, layer: dict, c: dict, cls: str) -> None:
        """GRU, LSTM, SimpleRNN as ONNX's GRU/LSTM/RNN node with layout 1 (Keras's [N, T, F]), then the
        Squeeze that leaves Y_h [N, H] (return_sequences=False) or every step [N, T, H] (True)."""
        name, units, op = _name(layer), int(c.get("units", 0)), RECURRENT_LAYERS[cls]
        if len(self.shape) != 2:
            raise self.fail(layer, f"needs a sequence input (T, F), gets {list(self.shape)}")
        steps, feat = self.shape
        for key, bad, why in (("go_backwards", True, "runs the sequence backwards"), ("stateful", True,
                              "keeps its state between batches"), ("return_state", True, "returns its states")):
            if bool(c.get(key, False)) == bad:
                raise self.fail(layer, f"{key}=True ({why}); nearest supported form: {RECURRENT}")
        if c.get("time_major"):
            raise self.fail(layer, f"time_major=True; nearest supported form: {RECURRENT} on a (T, F) input")
        act, rec_act = c.get("activation", "tanh"), c.get("recurrent_activation", "sigmoid")
        act = act.get("config") if isinstance(act, dict) else act
        rec_act = rec_act.get("config") if isinstance(rec_act, dict) else rec_act
        if (cls == "SimpleRNN" and act not in ("tanh", "relu")) or (cls != "SimpleRNN" and (act, rec_act) !=
                                                                    ("tanh", "sigmoid")):
            want = "activation 'tanh' or 'relu'" if cls == "SimpleRNN" else \
                "activation='tanh', recurrent_activation='sigmoid' (the defaults)"
            have = f"activation {act!r}" + (f", recurrent_activation {rec_act!r}" if cls != "SimpleRNN" else "")
            raise self.fail(layer, f"{have}; nnmodel's {cls} has the defaults only; nearest supported form: {want}")
        gates = {"GRU": 3, "LSTM": 4, "SimpleRNN": 1}[cls]
        reset_after = cls == "GRU" and bool(c.get("reset_after", not self.keras2))
        use_bias = c.get("use_bias", True)
        got = self.arrays(layer, ["kernel", "recurrent_kernel", "bias"] if use_bias else
                          ["kernel", "recurrent_kernel"], cell=True)
        kernel, rec = got[0], got[1]
        self.expect(layer, "kernel", kernel, (feat, gates * units))
        self.expect(layer, "recurrent_kernel", rec, (units, gates * units))
        b_in, b_rec = np.zeros(gates * units), np.zeros(gates * units)
        if use_bias:
            bias = got[2]
            self.expect(layer, "bias", bias, (2, gates * units) if reset_after else (gates * units,))
            b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, b_rec)
        if self.pending is not None:  # x·scale + offset, the same for every step
            scale, offset = self.fold(layer, (feat,), per_channel=True)
            kernel, b_in = kernel * scale[:, None], b_in + offset @ kernel
        order = (0, 3, 1, 2) if cls == "LSTM" else tuple(range(gates))  # Keras LSTM i,f,c,o -> ONNX i,o,f,c

        def onnx_rows(m: np.ndarray) -> np.ndarray:  # [., gates·U] -> [1, gates·U, .] in ONNX's gate order
            return np.concatenate([m[..., g * units:(g + 1) * units] for g in order], axis=-1).T[None]

        attrs: dict[str, Any] = {"hidden_size": units, "layout": 1}
        if cls == "GRU":
            attrs["linear_before_reset"] = int(reset_after)
        if cls == "SimpleRNN":
            attrs["activations"] = ["Tanh" if act == "tanh" else "Relu"]
        consts = {"W": onnx_rows(kernel), "R": onnx_rows(rec),
                  "B": np.concatenate([onnx_rows(b_in[None]), onnx_rows(b_rec[None])], axis=1).reshape(1, -1)}
        for key, value in consts.items():
            self.weights[f"{name}/{key}"] = np.asarray(value, np.float64)
        outs = [f"{name}/Y", f"{name}/Y_h"] + ([f"{name}/Y_c"] if cls == "LSTM" else [])
        self.nodes.append(Node(op, f"{name}", [self.current] + [f"{name}/{k}" for k in consts], outs, attrs))
        sequences = bool(c.get("return_sequences", False))
        self.weights[f"{name}/axes"] = np.array([2 if sequences else 1])
        self.nodes.append(Node("Squeeze", f"{name}/squeeze", [outs[0] if sequences else outs[1], f"{name}/axes"],
                               [f"{name}/out"]))
        self.current = f"{name}/out"
        self.shape = (steps, units) if sequences else (units,)

    def on_GRU(self, layer: dict, c: dict) -> None:
        self.recurrent(layer, c, "GRU")

    def on_LSTM(self, layer: dict, c: dict) -> None:
        self.recurrent(layer, c, "LSTM")

    def on_SimpleRNN(self, layer: dict, c: dict) -> None:
        self.recurrent(layer, c, "SimpleRNN")

    def pool(self, layer: dict, c: dict, op: str) -> None:
        k = _pair(c.get("pool_size"), 2)
        if c.get("strides") is None:
            c = dict(c, strides=list(k))
        attrs, (oh, ow, ch) = self.conv_geometry(layer, c, k)
        del attrs["dilations"]
        self.emit(op, _name(layer), (), attrs)
        self.shape = self.map_shape(oh, ow, ch)

    def on_MaxPooling2D(self, layer: dict, c: dict) -> None:
        self.pool(layer, c, "MaxPool")

    def on_AveragePooling2D(self, layer: dict, c: dict) -> None:
        self.pool(layer, c, "AveragePool")

    def global_pool(self, layer: dict, c: dict, op: str) -> None:
        if len(self.shape) != 3:
            raise self.fail(layer, f"needs an image input (H, W, C), gets {list(self.shape)}")
        self.emit(op, _name(layer))
        ch = self.shape[0] if self.layout == "NCHW" else self.shape[2]
        self.shape = self.map_shape(1, 1, ch) if c.get("keepdims") else (ch,)

    def on_GlobalAveragePooling2D(self, layer: dict, c: dict) -> None:
        self.global_pool(layer, c, "GlobalAveragePool")

    def on_GlobalMaxPooling2D(self, layer: dict, c: dict) -> None:
        self.global_pool(layer, c, "GlobalMaxPool")

    def on_Flatten(self, layer: dict, c: dict) -> None:
        name = _name(layer)
        if self.pending is not None:
            self.pending.scale, self.pending.offset = self.pending.scale.reshape(-1), self.pending.offset.reshape(-1)
        if len(self.shape) == 3 and str(c.get("data_format") or "channels_last") == "channels_first":
            if self.layout != "NCHW":
                raise self.fail(layer, "data_format channels_first on a channels_last map; nearest supported form: "
                                       "Flatten()")
            self.emit("Transpose", f"{name}/to_channels_last", (), {"perm": [0, 2, 3, 1]})
        self.emit("Flatten", name, (), {"axis": 1})
        self.shape = (int(np.prod(self.shape)),)

    def on_Reshape(self, layer: dict, c: dict) -> None:
        target = [int(v) for v in c.get("target_shape", [])]
        size = int(np.prod(self.shape))
        if target.count(-1) == 1:
            rest = int(np.prod([v for v in target if v != -1]))
            target[target.index(-1)] = size // rest if rest and size % rest == 0 else -1
        if int(np.prod(target)) != size or any(v < 1 for v in target):
            raise self.fail(layer, f"target shape {c.get('target_shape')} does not hold the {size} values of its "
                                   "input; " + SAVE_HINT)
        if self.pending is not None:
            self.pending.scale = self.pending.scale.reshape(target)
            self.pending.offset = self.pending.offset.reshape(target)
        if tuple(target) == self.shape or (len(self.shape) == 2 and tuple(target) == self.shape + (1,)):
            self.notes.append(f"{_name(layer)}: Reshape to {tuple(target)} changes nothing; skipped")
        else:
            self.emit("Reshape", _name(layer), (("shape", np.array([-1, *target])),))
        self.shape = tuple(target)

    def on_ZeroPadding2D(self, layer: dict, c: dict) -> None:
        self.emit("Pad", _name(layer), (), {"mode": "constant"})

    def on_Activation(self, layer: dict, c: dict) -> None:
        self.activation(layer, c.get("activation"), _name(layer))

    def on_Softmax(self, layer: dict, c: dict) -> None:
        self.emit("Softmax", _name(layer), (), {"axis": -1})

    def on_ReLU(self, layer: dict, c: dict) -> None:
        top, slope = c.get("max_value"), float(c.get("negative_slope") or 0.0)
        if float(c.get("threshold") or 0.0) != 0.0 or (top is not None and slope != 0.0):
            raise self.fail(layer, f"threshold {c.get('threshold')}, max_value {top}, negative_slope {slope}: "
                                   "nearest supported form: ReLU(max_value=m), or LeakyReLU without max_value")
        if slope:
            self.emit("LeakyRelu", _name(layer), (), {"alpha": slope})
        elif top is not None:
            self.clip(_name(layer), 0.0, float(top))
        else:
            self.emit("Relu", _name(layer))

    def on_LeakyReLU(self, layer: dict, c: dict) -> None:
        slope = c.get("negative_slope", c.get("alpha", 0.3))
        self.emit("LeakyRelu", _name(layer), (), {"alpha": float(0.3 if slope is None else slope)})

    def on_ELU(self, layer: dict, c: dict) -> None:
        self.emit("Elu", _name(layer), (), {"alpha": float(c.get("alpha", 1.0))})

    def on_PReLU(self, layer: dict, c: dict) -> None:
        (slope,) = self.arrays(layer, ["alpha"])
        self.emit("PRelu", _name(layer), (("slope", slope),))

    def on_Rescaling(self, layer: dict, c: dict) -> None:
        scale, offset = np.asarray(c.get("scale", 1.0), np.float64), np.asarray(c.get("offset", 0.0), np.float64)
        if self.layout == "NCHW" and (scale.ndim or offset.ndim):
            raise self.fail(layer, "a per-channel scale on a channels_first model; nearest supported form: one "
                                   "scale and offset for every value")
        self.affine(layer, scale, offset)

    def on_Normalization(self, layer: dict, c: dict) -> None:
        axes = c.get("axis", -1)
        axes = [axes] if isinstance(axes, int) else list(axes or [])
        rank = len(self.shape) + 1
        if c.get("mean") is not None and c.get("variance") is not None:
            mean, var = np.asarray(c["mean"], np.float64), np.asarray(c["variance"], np.float64)
        else:
            mean, var = self.arrays(layer, ["mean", "variance"])
        full, keep = (1,) + self.shape, [1] * rank
        for ax in axes:
            keep[int(ax) % rank] = full[int(ax) % rank]
        try:
            mean = np.broadcast_to(mean.reshape(keep[1:]) if mean.size > 1 else mean.reshape(()), self.shape)
            var = np.broadcast_to(var.reshape(keep[1:]) if var.size > 1 else var.reshape(()), self.shape)
        except ValueError:
            raise self.fail(layer, f"mean of shape {list(mean.shape)} does not match axis {axes} of its input "
                                   f"{list(self.shape)}; {SAVE_HINT}") from None
        if self.layout == "NCHW" and np.unique(mean).size > 1:
            raise self.fail(layer, "per-channel statistics on a channels_first model; nearest supported form: "
                                   "channels_last")
        std = np.maximum(np.sqrt(var), NORMALIZATION_EPSILON)
        if c.get("invert"):
            self.affine(layer, std, mean)
        else:
            self.affine(layer, 1.0 / std, -mean / std)

    # ------------------------------------------------------------------ activations and affine folds
    def clip(self, name: str, lo: float, hi: float) -> None:
        self.emit("Clip", name, (("min", np.array(lo)), ("max", np.array(hi))))

    def activation(self, layer: dict, spec: Any, node: str = "") -> None:
        """The activation= of a layer (node named layer/activation) or an Activation layer (node = its name)."""
        if isinstance(spec, dict):  # a serialized function, or an activation layer object
            inner = spec.get("config")
            if spec.get("class_name") in ("function", "builtin_function") or isinstance(inner, str):
                spec = inner
            else:
                cls = str(spec.get("class_name", "?"))
                sub = {"class_name": cls, "config": dict(inner or {}, name=node or f"{_name(layer)}/{_snake(cls)}")}
                if cls not in ("ReLU", "LeakyReLU", "Softmax", "ELU"):
                    raise self.fail(layer, f"activation {cls}; nearest supported form: {SUPPORTED_ACTIVATIONS}")
                self.layer(sub)
                return
        act = "linear" if spec is None else str(spec)
        name = node or f"{_name(layer)}/{act}"
        if act == "linear":
            if node:
                self.emit("Identity", name)
        elif act in PLAIN_ACTIVATIONS:
            self.emit(PLAIN_ACTIVATIONS[act], name, (), {"axis": -1} if "softmax" in act else {})
        elif act == "relu6":
            self.clip(name, 0.0, 6.0)
        elif act == "hard_tanh":
            self.clip(name, -1.0, 1.0)
        elif act == "hard_sigmoid":  # Keras 2: clip(0.2·x + 0.5); Keras 3: relu6(x + 3) / 6
            alpha = 0.2 if self.keras2 else 1.0 / 6.0
            self.emit("HardSigmoid", name, (), {"alpha": alpha, "beta": 0.5})
        elif act == "leaky_relu":
            self.emit("LeakyRelu", name, (), {"alpha": 0.2})
        else:
            raise self.fail(layer, f"activation {act!r} is not supported; nearest supported form: "
                                   f"{SUPPORTED_ACTIVATIONS}")

    def affine(self, layer: dict, scale: np.ndarray, offset: np.ndarray) -> None:
        try:
            s, o = np.broadcast_to(scale, self.shape).astype(np.float64), np.broadcast_to(offset, self.shape)
        except ValueError:
            raise self.fail(layer, f"scale {list(scale.shape)} does not fit its input {list(self.shape)}; "
                                   f"{SAVE_HINT}") from None
        if self.pending is None:
            self.pending = _Affine(s.copy(), np.array(o, np.float64), [_name(layer)])
        else:  # s2·(s1·x + o1) + o2
            p = self.pending
            p.scale, p.offset = p.scale * s, p.offset * s + o
            p.layers.append(_name(layer))

    def fold(self, layer: dict, want: tuple[int, ...], per_channel: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The pending affine as (scale, offset) over the layer's input features (or channels)."""
        p = self.pending
        assert p is not None
        scale, offset = p.scale, p.offset
        if per_channel:  # one value per channel, the same at every pixel
            axis = 0 if self.layout == "NCHW" else -1
            scale, offset = np.moveaxis(scale, axis, -1).reshape(-1, want[0]), \
                np.moveaxis(offset, axis, -1).reshape(-1, want[0])
            if np.ptp(scale, axis=0).max() > 0 or np.ptp(offset, axis=0).max() > 0:
                raise self.fail(layer, "the Rescaling/Normalization before it differs between pixels of a channel; "
                                       "nearest supported form: one scale per channel")
            scale, offset = scale[0], offset[0]
        scale, offset = scale.reshape(-1), offset.reshape(-1)
        if scale.shape != want:
            raise self.fail(layer, f"the Rescaling/Normalization before it has {scale.size} values for "
                                   f"{want[0]} inputs; nearest supported form: Rescaling directly before a Dense or "
                                   "Conv2D")
        self.notes.append(f"{', '.join(p.layers)}: x·scale + offset folded into the weights of {_name(layer)}")
        self.pending = None
        return scale, offset


def _name(layer: dict) -> str:
    c = layer.get("config")
    return str(layer.get("name") or (c.get("name") if isinstance(c, dict) else None) or "?")


def _refs(value: Any) -> list[str]:
    """input_layers / output_layers: [name, 0, 0] (Keras 3, one tensor) or [[name, 0, 0], ...]."""
    if not isinstance(value, list) or not value:
        return []
    if isinstance(value[0], str):
        return [value[0]]
    return [str(v[0]) for v in value if isinstance(v, list) and v]


def _sources(call: Any) -> list[str]:
    """The layers whose outputs one call of a layer reads (Keras 3 {"args", "kwargs"} or Keras 2 lists)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                history = value.get("config", {}).get("keras_history") or ["?"]
                found.append(str(history[0]))
            else:
                for v in value.values():
                    walk(v)
        elif isinstance(value, list):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):  # Keras 2 [name, node, i]
                found.append(value[0])
            else:
                for v in value:
                    walk(v)

    walk(call)
    return found

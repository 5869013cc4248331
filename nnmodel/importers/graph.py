"""A framework's network as one small graph, lowered to nnmodel's layer kinds.

Each reader (onnx_reader, keras_reader, sklearn_reader) writes the same vocabulary, ONNX's op
names with ONNX's weight layouts (Gemm B [out, in] with transB, Conv W [out, in, kh, kw]); the
lowering walks the chain from the input and turns it into quantize.FloatLayers:

    Gemm | MatMul (+ Add)            -> dense         Conv (groups 1, stride 1, no pads) -> conv2d
    BatchNormalization               -> folded into the conv/dense before it
    Relu, Clip(0, c), LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish -> that layer's activation
    MaxPool (window = stride, no pads) -> maxpool2d
    AveragePool (window = stride), GlobalAveragePool -> folded into the next Gemm's weights (exact:
                                        each pooled column spreads over its window, weight / window size)
    Flatten, Reshape, Transpose      -> relabel memory: the next dense's weight columns are permuted
                                        from the framework's layout (NCHW) to nnmodel's HWC stream
    Dropout, Identity, Cast          -> removed
    Softmax (at the end)             -> dropped: the logits keep the argmax
    GRU, LSTM, RNN (forward, zero initial state, default activations) on a sequence input [N, T, F]
                                     -> gru, lstm, rnn: the gates reordered to nnmodel's (GRU z,r,h ->
                                        r,z,n; LSTM i,o,f,c -> i,f,g,o); the Transpose [1, 0, 2] of
                                        batch_first, the Squeeze of Y, and the Gather / Slice / Squeeze
                                        that takes the last step of Y or Y_h into the next Gemm are
                                        relabels (nnmodel's recurrent layers hand on their last step)

Anything else is one NNModelError naming the node, its op and the nearest supported form; a
partial model is never returned.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import NNModelError
from ..quantize import FloatLayer

# What to say instead, for ops nnmodel does not lower (yet).
NEAREST = {
    "GlobalMaxPool": "MaxPool over the whole map",
    "ConvTranspose": "Conv (groups 1, stride 1, no padding)",
    "Gelu": "Relu, or a table activation (Tanh, Sigmoid, HardSwish)",
    "Elu": "LeakyRelu",
    "Selu": "LeakyRelu",
    "PRelu": "LeakyRelu with one slope",
    "LSTM": "a forward LSTM on the sequence input, its last step into a Gemm",
    "GRU": "a forward GRU on the sequence input, its last step into a Gemm",
    "RNN": "a forward RNN (Tanh or Relu) on the sequence input, its last step into a Gemm",
    "Concat": "a single chain of layers",
    "Mul": "the weights of the Gemm/Conv before it",
    "Sub": "the bias of the Gemm/Conv before it",
    "Div": "the weights of the Gemm/Conv before it",
    "Pad": "Conv without padding",
    "LogSoftmax": "Softmax at the end (dropped), or nothing: logits keep the argmax",
}
TABLE_ACTIVATIONS = ("Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish")
REMOVED = ("Dropout", "Identity", "Cast")
RECURRENT = ("GRU", "LSTM", "RNN")
# Gate blocks of ONNX's W, R and B in nnmodel's order (docs/recurrent.md): GRU z,r,h -> r,z,n;
# LSTM i,o,f,c -> i,f,g,o.
GATE_ORDER = {"GRU": (1, 0, 2), "LSTM": (0, 2, 3, 1), "RNN": (0,)}
DEFAULT_ACTIVATIONS = {"GRU": ["sigmoid", "tanh"], "LSTM": ["sigmoid", "tanh", "tanh"]}
# Ops that pass a zero initial state through unchanged (the exporter's ConstantOfShape, Expand, Slice per layer).
ZERO_KEEPING = ("Expand", "Slice", "Gather", "Squeeze", "Unsqueeze", "Reshape", "Identity", "Cast", "Tile", "Transpose")
LAST_STEP = ("the last step into the Linear/Dense (PyTorch: out[:, -1] with batch_first, out[-1] otherwise, or "
             "h_n[-1]; Keras: return_sequences=False)")


@dataclass
class Node:
    op: str  # ONNX op type
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    nodes: list[Node]  # in execution order
    weights: dict[str, np.ndarray]  # initializers (constants) by name
    input: str
    input_shape: tuple[int, ...]  # one sample, as the framework lays it out: (F,), (T, F), (C, H, W) or (H, W, C)
    layout: str  # images: "NCHW" (ONNX from PyTorch) or "NHWC" (Keras); sequences: "NTF" or "TNF" (time first)
    source: str  # the file, for messages
    labels: list[str] = field(default_factory=list)  # class names the file names, if any
    notes: list[str] = field(default_factory=list)  # what the reader decided, for the import's report


@dataclass
class Seq:
    """A tensor on the recurrent path, by what it holds (the batch axis is where the framework has it).

    seq    [T, N, F] (axis 0) or [N, T, F] (axis 1): every step of the input or of a layer's output
    y      a recurrent node's Y: [T, 1, N, H] (axis = its layout 0) or [N, T, 1, H] (layout 1)
    one    the top layer's last step with a singleton axis: Y_h [1, N, H] (axis 0) or [N, 1, H] (axis 1)
    stack  the Y_h of stacked layers concatenated [L, N, H]: its last entry is the top layer's
    cell   an LSTM's Y_c
    """

    kind: str
    axis: int
    size: int  # values per step (F or H)
    steps: int  # T (seq, y); the layers (stack); 1 (one)
    source: str  # the node that made it, for messages


@dataclass
class Lowered:
    layers: list[FloatLayer]
    input_shape: tuple[int, ...]  # nnmodel's view of one sample: (F,), (T, F) or (H, W, C)
    labels: list[str]
    notes: list[str]
    chain: list[str]  # one line per framework node: what it became
    output_tensor: str = ""  # the framework tensor the model's outputs equal (before a dropped Softmax)
    softmax: bool = False  # the framework applied a Softmax after it


def _fail(g: Graph, node: Node, why: str) -> NNModelError:
    return NNModelError(f"{g.source}: node {node.name or '?'} ({node.op}): {why}")


def _unsupported(g: Graph, node: Node) -> NNModelError:
    near = NEAREST.get(node.op, "Gemm, Conv, MaxPool, BatchNormalization and the activations of docs/import.md")
    return _fail(g, node, f"not supported; nearest supported form: {near}")


class _Lowering:
    """The walk: the current tensor's form and the layer an activation or BatchNorm would join."""

    def __init__(self, g: Graph):
        self.g = g
        self.layers: list[FloatLayer] = []
        self.chain: list[str] = []
        self.notes = list(g.notes)
        shape = g.input_shape
        self.map: tuple[int, int, int] | None = None  # the current map (h, w, c), None once flat
        self.vector: int | None = None  # the current vector's length
        self.layout = ""  # how the framework lays out the current map: "CHW" or "HWC"
        if len(shape) == 3:  # a map: nnmodel streams HWC
            self.map = (shape[1], shape[2], shape[0]) if g.layout == "NCHW" else (shape[0], shape[1], shape[2])
            self.layout = "CHW" if g.layout == "NCHW" else "HWC"
            self.input_shape: tuple[int, ...] = self.map
        elif len(shape) == 1:
            self.vector, self.input_shape = shape[0], shape
        elif len(shape) == 2:  # a sequence (T, F): recurrent layers read one step per input row
            self.input_shape = shape
        else:
            raise NNModelError(f"{g.source}: input {g.input} has shape {list(shape)}; the importer takes a "
                               "feature vector [F], a sequence [T, F] or an image [C, H, W] / [H, W, C]")
        # Tensors on the recurrent path (the input sequence, Y, Y_h, ...): what each holds
        self.seqs: dict[str, Seq] = {}
        if len(shape) == 2:
            self.seqs[g.input] = Seq("seq", 0 if g.layout == "TNF" else 1, shape[1], shape[0], g.input)
        self.producer = {out: n for n in g.nodes for out in n.outputs if out}
        self.flat_from: tuple[tuple[int, int, int], str] | None = None  # (h, w, c), layout of a flattened map
        self.open: FloatLayer | None = None  # the last conv/dense, until an activation is set
        # an average pool waiting for the Gemm after it: (the map before the pool, window h, window w)
        self.average: tuple[tuple[int, int, int], int, int] | None = None
        self.average_steps = 0  # chain lines since the pool (its line gets the Gemm's name)

    # ------------------------------------------------------------------ helpers
    def const(self, node: Node, i: int, what: str) -> np.ndarray:
        if i >= len(node.inputs) or node.inputs[i] not in self.g.weights:
            raise _fail(self.g, node, f"its {what} must be a constant (an initializer) for nnmodel to fold it")
        return np.asarray(self.g.weights[node.inputs[i]], np.float64)

    def push(self, node: Node, fl: FloatLayer, text: str) -> None:
        if self.layers and self.layers[-1].kind in ("gru", "lstm", "rnn") and fl.kind not in ("gru", "lstm", "rnn",
                                                                                               "dense"):
            raise _fail(self.g, node, "after a recurrent layer nnmodel needs a Gemm (or another recurrent layer)")
        self.layers.append(fl)
        self.open = fl if fl.kind in ("dense", "conv2d") else None
        self.chain.append(f"{node.op} {node.name}: {text}")

    def dense(self, node: Node, w: np.ndarray, b: np.ndarray) -> None:
        """w [out, in] in the framework's input order; a flattened map's columns go to HWC order."""
        n_in = w.shape[1]
        if self.map is not None and self.vector is None:
            raise _fail(self.g, node, "a dense layer needs a flat input; add Flatten before it")
        if self.flat_from is not None:
            (h, wd, c), layout = self.flat_from
            if layout == "CHW":  # column c·H·W + y·W + x of the framework is nnmodel's (y·W + x)·C + c
                w = w.reshape(len(w), c, h, wd).transpose(0, 2, 3, 1).reshape(len(w), -1)
                self.notes.append(f"{node.name}: weight columns permuted from CHW (the framework's flatten) to "
                                  "HWC (nnmodel's row stream)")
            self.flat_from = None
        if n_in != self.vector:
            raise _fail(self.g, node, f"takes {n_in} inputs but gets {self.vector}")
        if self.average is not None:
            w = self.spread(node, w)
        self.push(node, FloatLayer("dense", {"w": w, "b": b}, "none", name=node.name or f"dense{len(self.layers)}",
                                   extra={"weight_bits": 8}), f"dense {n_in}->{len(w)}")
        self.vector = len(w)

    def spread(self, node: Node, w: np.ndarray) -> np.ndarray:
        """Gemm(AveragePool(x)) is one linear map of x: each pooled column becomes its window's columns
        over the map before the pool, weighted 1/(window size); a ragged edge gets weight 0."""
        assert self.average is not None
        (h, wd, c), kh, kw = self.average
        oh, ow = h // kh, wd // kw
        pooled = w.reshape(len(w), oh, ow, c) / (kh * kw)
        full = np.zeros((len(w), h, wd, c))
        full[:, :oh * kh, :ow * kw, :] = pooled.repeat(kh, axis=1).repeat(kw, axis=2)
        self.notes.append(f"{node.name}: the average pool before it is folded into its weights, which now read the "
                          f"{h}x{wd}x{c} map ({h * wd * c} inputs instead of {oh * ow * c}; exact, no pooling at run "
                          "time)")
        self.chain[-1 - self.average_steps] += f" (folded into {node.name or 'the Gemm after it'})"
        self.average, self.vector = None, h * wd * c
        return full.reshape(len(w), -1)

    def activation(self, node: Node, kind: str, text: str, clip: float | None = None, function: str = "") -> None:
        fl = self.open
        if fl is None or fl.activation != "none":
            before = self.layers[-1] if self.layers else None
            # max-pooling commutes with a monotone activation: Conv -> MaxPool -> Relu is Conv+Relu -> MaxPool
            if before is not None and before.kind == "maxpool2d" and kind in ("relu",) and len(self.layers) > 1 \
                    and self.layers[-2].kind == "conv2d" and self.layers[-2].activation == "none":
                fl = self.layers[-2]
            else:
                raise _fail(self.g, node, "an activation must follow a Conv or Gemm (with at most a BatchNormalization "
                                          "between)")
        if fl.kind == "conv2d" and kind == "lut":
            raise _fail(self.g, node, "after a Conv only Relu, Clip and linear outputs are supported (the runtime "
                                      "pools before activating); nearest supported form: Relu")
        fl.activation = kind
        if clip is not None:
            fl.extra["clip"] = clip
        if function:
            fl.lut_function = function
        self.chain.append(f"{node.op} {node.name}: activation of {fl.name}: {text}")

    # ------------------------------------------------------------------ ops
    def lower(self, node: Node, last: bool) -> None:
        op, a = node.op, node.attrs
        src = self.seqs.get(node.inputs[0]) if node.inputs else None
        if src is not None or (op == "Concat" and any(i in self.seqs for i in node.inputs)):
            self.sequence(node, src)
            return
        if op in RECURRENT:
            raise _fail(self.g, node, "a recurrent layer needs a sequence input [N, T, F] (the model's input, "
                                      f"or another recurrent layer's Y); nearest supported form: {op} first")
        if self.average is not None:
            if op not in REMOVED + ("Flatten", "Reshape", "Gemm", "MatMul"):
                self.pending_average(node)
            if op not in ("Gemm", "MatMul"):
                self.average_steps += 1
        if op in REMOVED:
            self.chain.append(f"{op} {node.name}: removed")
        elif op == "Gemm":
            if a.get("transA", 0):
                raise _fail(self.g, node, "transA = 1 is not supported; nearest supported form: Gemm with transA 0")
            b_mat = self.const(node, 1, "B")
            w = b_mat if a.get("transB", 0) else b_mat.T
            w = w * float(a.get("alpha", 1.0))
            bias = self.const(node, 2, "C") * float(a.get("beta", 1.0)) if len(node.inputs) > 2 \
                else np.zeros(len(w))
            self.dense(node, w, np.broadcast_to(bias, (len(w),)).astype(np.float64))
        elif op == "MatMul":
            w = self.const(node, 1, "second input").T
            self.dense(node, w, np.zeros(len(w)))
        elif op == "Add":
            fl = self.open
            if fl is None or fl.kind != "dense" or fl.activation != "none" or node.inputs[1] not in self.g.weights:
                raise _unsupported(self.g, node)
            fl.weights["b"] = fl.weights["b"] + np.broadcast_to(self.const(node, 1, "addend").reshape(-1),
                                                                 fl.weights["b"].shape)
            self.chain.append(f"Add {node.name}: bias of {fl.name}")
        elif op == "Conv":
            self.conv(node)
        elif op == "BatchNormalization":
            self.batchnorm(node)
        elif op == "Relu":
            self.activation(node, "relu", "relu")
        elif op == "Clip":
            lo, hi = self.clip_bounds(node)
            if lo == 0.0 and hi is not None and hi > 0:
                self.activation(node, "relu", f"relu clipped at {hi:g} (exact: out scale {hi:g}/127)", clip=hi)
            elif lo == -1.0 and hi == 1.0:
                self.activation(node, "hardtanh", "hard-tanh")
            else:
                raise _fail(self.g, node, f"Clip({lo}, {hi}) is not supported; nearest supported form: Clip(0, max) "
                                          "(ReLU6) or Clip(-1, 1)")
        elif op in TABLE_ACTIVATIONS:
            function = {"Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hard_swish",
                        "LeakyRelu": f"leaky_relu({float(a.get('alpha', 0.01)):g})",
                        "HardSigmoid": f"hard_sigmoid({float(a.get('alpha', 0.2)):g},{float(a.get('beta', 0.5)):g})"
                        }[op]
            self.activation(node, "lut", f"256-entry table of {function}", function=function)
        elif op == "MaxPool":
            self.maxpool(node)
        elif op in ("AveragePool", "GlobalAveragePool"):
            self.average_pool(node)
        elif op in ("Flatten", "Reshape"):
            self.flatten(node)
        elif op == "Transpose":
            self.transpose(node)
        elif op == "Softmax" and last:
            self.chain.append(f"Softmax {node.name}: dropped (the logits keep the argmax)")
            self.notes.append("a final Softmax was dropped: the model outputs logits, whose argmax is the class")
        else:
            raise _unsupported(self.g, node)

    def clip_bounds(self, node: Node) -> tuple[float | None, float | None]:
        if "min" in node.attrs or "max" in node.attrs:  # opset < 11
            return node.attrs.get("min"), node.attrs.get("max")
        lo = float(self.const(node, 1, "min")) if len(node.inputs) > 1 and node.inputs[1] else None
        hi = float(self.const(node, 2, "max")) if len(node.inputs) > 2 and node.inputs[2] else None
        return lo, hi

    def conv(self, node: Node) -> None:
        a = node.attrs
        w = self.const(node, 1, "weights")  # [out, in, kh, kw]
        if self.map is None or self.vector is not None:
            raise _fail(self.g, node, "a Conv needs an image input [C, H, W]")
        h, wd, c = self.map
        if w.ndim != 4:
            raise _fail(self.g, node, "1-D convolutions are not supported; nearest supported form: Conv 2-D")
        if int(a.get("group", 1)) != 1:
            raise _fail(self.g, node, f"group {a.get('group')} (depthwise) is not supported; nearest supported form: "
                                      "Conv with group 1")
        if any(int(s) != 1 for s in a.get("strides", [1, 1])) or any(int(d) != 1 for d in a.get("dilations", [1, 1])):
            raise _fail(self.g, node, "strides and dilations must be 1; nearest supported form: Conv stride 1 then "
                                      "MaxPool")
        if any(int(p) for p in a.get("pads", [0, 0, 0, 0])) or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise _fail(self.g, node, "padding is not supported; nearest supported form: Conv without padding "
                                      "(padding='valid')")
        out, cin, kh, kw = w.shape
        if kh != kw:
            raise _fail(self.g, node, f"kernel {kh}x{kw}; nearest supported form: a square kernel")
        if cin != c:
            raise _fail(self.g, node, f"takes {cin} channels but gets {c}")
        if kh > min(h, wd):
            raise _fail(self.g, node, f"kernel {kh} does not fit the {h}x{wd} map")
        b = self.const(node, 2, "bias") if len(node.inputs) > 2 and node.inputs[2] else np.zeros(out)
        fl = FloatLayer("conv2d", {"w": w.transpose(0, 2, 3, 1), "b": b}, "none", name=node.name or "conv",
                        extra={"in_shape": self.map, "weight_bits": 8})
        self.push(node, fl, f"conv2d {kh}x{kh} {c}->{out} on {h}x{wd}")
        self.map = (h - kh + 1, wd - kh + 1, out)

    def batchnorm(self, node: Node) -> None:
        fl = self.open
        if fl is None or fl.activation != "none":
            raise _fail(self.g, node, "only a BatchNormalization right after a Conv or Gemm can be folded into it")
        gamma, beta, mean, var = (self.const(node, i, what) for i, what in
                                  ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")))
        k = gamma / np.sqrt(var + float(node.attrs.get("epsilon", 1e-5)))
        w = fl.weights["w"]
        fl.weights["w"] = w * k.reshape((-1,) + (1,) * (w.ndim - 1))
        fl.weights["b"] = (fl.weights["b"] - mean) * k + beta
        self.chain.append(f"BatchNormalization {node.name}: folded into {fl.name}")

    def maxpool(self, node: Node) -> None:
        a = node.attrs
        k = [int(v) for v in a.get("kernel_shape", [])]
        strides = [int(v) for v in a.get("strides", k)]
        if self.map is None or self.vector is not None:
            raise _fail(self.g, node, "a MaxPool needs an image")
        if len(k) != 2 or k[0] != k[1] or strides != k or any(int(p) for p in a.get("pads", [0] * 4)) \
                or int(a.get("ceil_mode", 0)) or any(int(d) != 1 for d in a.get("dilations", [1, 1])):
            raise _fail(self.g, node, f"window {k}, strides {strides}: nearest supported form: a square MaxPool whose "
                                      "stride equals its window, no padding, floor mode")
        h, wd, c = self.map
        if k[0] > min(h, wd):
            raise _fail(self.g, node, f"window {k[0]} does not fit the {h}x{wd} map")
        self.push(node, FloatLayer("maxpool2d", {}, "none", name=node.name or "pool",
                                   extra={"in_shape": self.map, "size": k[0]}), f"maxpool2d {k[0]}")
        self.map = (h // k[0], wd // k[0], c)

    def average_pool(self, node: Node) -> None:
        """Held until the Gemm after it (Flatten/Reshape between), whose weights absorb it: the runtime
        never averages."""
        if self.map is None or self.vector is not None or self.average is not None:
            raise _fail(self.g, node, f"an {node.op} needs an image")
        h, wd, c = self.map
        if node.op == "GlobalAveragePool":
            k = [h, wd]
        else:
            a = node.attrs
            k = [int(v) for v in a.get("kernel_shape", [])]
            strides = [int(v) for v in a.get("strides", k)]
            if len(k) != 2 or strides != k or any(int(p) for p in a.get("pads", [0] * 4)) \
                    or int(a.get("ceil_mode", 0)) or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
                raise _fail(self.g, node, f"window {k}, strides {strides}: nearest supported form: an AveragePool "
                                          "whose stride equals its window, no padding, floor mode")
            if k[0] > h or k[1] > wd:
                raise _fail(self.g, node, f"window {k[0]}x{k[1]} does not fit the {h}x{wd} map")
        self.average, self.average_steps = (self.map, k[0], k[1]), 0
        self.open = None
        self.map = (h // k[0], wd // k[1], c)
        self.chain.append(f"{node.op} {node.name}: average {k[0]}x{k[1]} to {'x'.join(map(str, self.map))}")
        if self.map[:2] == (1, 1):  # one value per channel: flat in any layout
            self.flat_from, self.vector = (self.map, "HWC"), c

    def pending_average(self, node: Node) -> None:
        if self.average is not None:
            raise _fail(self.g, node, "after an average pool nnmodel needs Flatten and a Gemm, which absorbs the "
                                      "pool; nearest supported form: MaxPool")

    def flatten(self, node: Node) -> None:
        if node.op == "Reshape" and len(node.inputs) > 1 and node.inputs[1] not in self.g.weights:
            self.notes.append(f"{node.name}: Reshape to a shape computed at run time, taken as flatten to [N, -1]")
        elif node.op == "Reshape" and len(node.inputs) > 1:
            target = [int(v) for v in self.g.weights[node.inputs[1]].reshape(-1)]
            size = int(np.prod(self.map)) if self.vector is None and self.map else self.vector
            if not (len(target) == 2 and target[1] in (-1, size)):
                raise _fail(self.g, node, f"reshape to {target}: only flattening to [N, {size}] is supported")
        if self.vector is not None:  # already flat (e.g. a Reshape to [N, F] after a Gemm)
            self.chain.append(f"{node.op} {node.name}: no change")
            return
        assert self.map is not None
        self.flat_from = (self.map, self.layout)
        self.vector = int(np.prod(self.map))
        self.chain.append(f"{node.op} {node.name}: flatten {'x'.join(map(str, self.map))} (framework order "
                          f"{self.layout}) to {self.vector}")

    def transpose(self, node: Node) -> None:
        perm = [int(v) for v in node.attrs.get("perm", [])]
        if self.vector is None and perm == [0, 2, 3, 1] and self.layout == "CHW":
            self.layout = "HWC"
        elif self.vector is None and perm == [0, 3, 1, 2] and self.layout == "HWC":
            self.layout = "CHW"
        else:
            raise _fail(self.g, node, f"perm {perm}: only a change between NCHW and NHWC (data stays put; weights "
                                      "are permuted) is supported")
        self.chain.append(f"Transpose {node.name}: relabel the map as {self.layout}")

    # ------------------------------------------------------------------ sequences and recurrent layers
    def sequence(self, node: Node, src: Seq | None) -> None:
        """A node on the recurrent path: a recurrent layer, or a relabel of its input or output."""
        op, out = node.op, node.outputs[0]
        if op == "Concat":
            self.concat(node)
            return
        assert src is not None
        if src.kind == "cell":
            raise _fail(self.g, node, f"reads the cell state c_n of {src.source}; nnmodel hands on an LSTM's hidden "
                                      f"state only; nearest supported form: {LAST_STEP}")
        if op in REMOVED:
            self.seqs[out] = src
            self.chain.append(f"{op} {node.name}: removed")
        elif op in RECURRENT:
            self.recurrent(node, src)
        elif op == "Transpose":
            perm = [int(v) for v in node.attrs.get("perm", [])]
            if perm != [1, 0, 2] or src.kind not in ("seq", "one"):
                raise _fail(self.g, node, f"perm {perm} of {src.source}'s sequence; only swapping the batch and time "
                                          "axes (perm [1, 0, 2], what batch_first exports) is supported")
            self.seqs[out] = Seq(src.kind, 1 - src.axis, src.size, src.steps, src.source)
            self.chain.append(f"Transpose {node.name}: relabel ({'[N, T, F]' if src.axis == 0 else '[T, N, F]'})")
        elif op == "Squeeze" and src.kind == "y" and self.axes(node) == [1 if src.axis == 0 else 2]:
            self.seqs[out] = Seq("seq", src.axis, src.size, src.steps, src.source)
            self.chain.append(f"Squeeze {node.name}: relabel (every step of {src.source})")
        elif op in ("Squeeze", "Gather", "Flatten", "Reshape") and src.kind in ("one", "stack", "seq"):
            self.last_step(node, src)
        elif op == "Slice" and src.kind in ("seq", "stack"):
            axis = src.axis if src.kind == "seq" else 0
            kept = self.slice_range(node, axis, src.steps)
            self.check_last(node, src, kept[0] if kept is not None and kept[1] - kept[0] == 1 else None, axis)
            self.seqs[out] = Seq("one", axis, src.size, 1, src.source)
            self.chain.append(f"Slice {node.name}: the last step of {src.source}")
        elif src.kind in ("seq", "y"):
            raise _fail(self.g, node, f"reads every step of {src.source}'s sequence; nnmodel's recurrent layers hand "
                                      f"the layer after them their last step only; nearest supported form: {LAST_STEP}")
        else:
            raise _fail(self.g, node, f"on {src.source}'s last state: not supported; nearest supported form: "
                                      f"{LAST_STEP}")

    def axes(self, node: Node) -> list[int]:
        """Squeeze/Unsqueeze axes: an attribute (opset < 13) or the second input."""
        if "axes" in node.attrs:
            return [int(v) for v in node.attrs["axes"]]
        if len(node.inputs) > 1 and node.inputs[1]:
            return [int(v) for v in self.const(node, 1, "axes").reshape(-1)]
        return []

    def index(self, node: Node) -> int | None:
        """A Gather's single index, or None when it picks several."""
        idx = self.const(node, 1, "indices")
        return int(idx) if idx.size == 1 and idx.ndim == 0 else None

    def check_last(self, node: Node, src: Seq, i: int | None, axis: int) -> None:
        """i must name the last step (or the top layer of a stack): -1 or count - 1."""
        count = src.steps
        if i is None or i not in (-1, count - 1):
            what = "layer" if src.kind == "stack" else "step"
            which = i if i is not None else "several"
            raise _fail(self.g, node, f"takes {what} {which} of {src.source} (axis {axis}); "
                                      f"nnmodel's recurrent layers hand on their last {what} only; nearest supported "
                                      f"form: {LAST_STEP}")

    def slice_range(self, node: Node, axis: int, n: int) -> tuple[int, int] | None:
        """The [start, end) a Slice keeps of `axis` (length n), normalized; None for another axis or step."""
        a = node.attrs
        given = [i < len(node.inputs) and bool(node.inputs[i]) for i in range(5)]
        starts: Any
        steps: Any
        if "starts" in a:  # opset < 10
            starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes", [0]), [1]
        else:
            starts, ends = self.const(node, 1, "starts"), self.const(node, 2, "ends")
            axes = self.const(node, 3, "axes") if given[3] else np.arange(np.size(starts))
            steps = self.const(node, 4, "steps") if given[4] else [1]
        flat = [[int(v) for v in np.reshape(x, -1)] for x in (starts, ends, axes, steps)]
        if flat[2] != [axis] or flat[3] != [1]:
            return None
        lo, hi = flat[0][0], flat[1][0]
        lo, hi = lo + n if lo < 0 else lo, hi + n if hi < 0 else hi
        return max(0, min(lo, n)), max(0, min(hi, n))

    def last_step(self, node: Node, src: Seq) -> None:
        """Squeeze / Gather / Flatten / Reshape that leave the last step [N, H]: the next Gemm's input."""
        op, a = node.op, node.attrs
        ok = False
        if op == "Gather":
            axis = int(a.get("axis", 0))
            want = src.axis if src.kind in ("seq", "one") else 0
            if axis == want:
                i = self.index(node)
                if src.kind == "one":
                    ok = i in (0, -1)
                else:
                    self.check_last(node, src, i, axis)
                    ok = True
        elif src.kind == "one":
            if op == "Squeeze":
                ok = self.axes(node) == [src.axis]
            elif op == "Flatten":
                ok = src.axis == 1 and int(a.get("axis", 1)) == 1
            elif op == "Reshape" and len(node.inputs) > 1 and node.inputs[1] in self.g.weights:
                target = [int(v) for v in self.g.weights[node.inputs[1]].reshape(-1)]
                ok = target in ([-1, src.size],) or (src.axis == 1 and target in ([0, -1], [0, src.size]))
        if not ok:
            raise _fail(self.g, node, f"on {src.source}'s output: only taking the last step is supported; nearest "
                                      f"supported form: {LAST_STEP}")
        self.seqs.pop(node.outputs[0], None)
        self.vector, self.map, self.flat_from = src.size, None, None
        self.chain.append(f"{op} {node.name}: the last step of {src.source} ({src.size} values) to the next layer")

    def concat(self, node: Node) -> None:
        """torch's h_n of stacked layers: Concat(axis 0) of each layer's Y_h; h_n[-1] is the top layer's."""
        parts = [self.seqs.get(i) for i in node.inputs if i]
        top = self.layers[-1].name if self.layers else ""
        if int(node.attrs.get("axis", 0)) != 0 or any(p is None or p.kind != "one" or p.axis != 0 for p in parts) \
                or parts[-1] is None or parts[-1].source != top:
            raise _fail(self.g, node, f"joins tensors of the recurrent layers; nnmodel takes the top layer's last "
                                      f"state only; nearest supported form: {LAST_STEP}")
        size = parts[-1].size
        self.seqs[node.outputs[0]] = Seq("stack", 0, size, len(parts), top)
        self.chain.append(f"Concat {node.name}: h_n of {len(parts)} stacked layers (the last is {top})")

    def zero(self, name: str, depth: int = 0) -> bool:
        """Whether a tensor is all zeros: absent, a zero constant, or the exporter's ConstantOfShape(0)
        through Expand / Slice / Unsqueeze and the like (torch's h0 when forward() gets none)."""
        if not name:
            return True
        if name in self.g.weights:
            return not np.any(self.g.weights[name])
        node = self.producer.get(name)
        if node is None or depth > 16:
            return False
        if node.op == "ConstantOfShape":
            value = node.attrs.get("value")
            return value is None or not np.any(np.asarray(value))
        return node.op in ZERO_KEEPING and bool(node.inputs) and self.zero(node.inputs[0], depth + 1)

    def recurrent(self, node: Node, src: Seq) -> None:
        """GRU, LSTM, RNN: gru, lstm, rnn FloatLayers in nnmodel's gate order."""
        op, a = node.op, node.attrs
        fail = lambda why: _fail(self.g, node, why)  # noqa: E731
        if src.kind != "seq":
            raise fail(f"reads {src.source}'s last state; a recurrent layer needs every step [N, T, F]")
        layout = int(a.get("layout", 0))
        if src.axis != (1 if layout else 0):
            raise fail(f"layout {layout} reads [{'N, T' if layout else 'T, N'}, F] but gets "
                       f"[{'N, T' if src.axis else 'T, N'}, F]; export it again (torch writes the Transpose itself)")
        direction = str(a.get("direction", "forward"))
        if direction != "forward":
            raise fail(f"direction {direction}; nnmodel's recurrent layers run forward only; nearest supported form: "
                       f"a forward {op} (bidirectional=False)")
        clip = a.get("clip")
        if clip is not None:
            raise fail(f"clip {clip}; nearest supported form: the {op} without clip")
        acts = [str(v).lower() for v in a.get("activations", [])]
        if op == "RNN":
            if acts not in ([], ["tanh"], ["relu"]):
                raise fail(f"activations {a['activations']}; nearest supported form: Tanh or Relu")
        elif acts and acts != DEFAULT_ACTIVATIONS[op]:
            raise fail(f"activations {a['activations']}; nnmodel's {op} gates are sigmoid and tanh; nearest "
                       f"supported form: the default activations")
        if op == "LSTM" and int(a.get("input_forget", 0)):
            raise fail("input_forget 1 (coupled input and forget gates); nearest supported form: input_forget 0")
        ins = node.inputs + [""] * (8 - len(node.inputs))
        if ins[4]:
            raise fail("sequence_lens: nnmodel runs every sequence for its full length; nearest supported form: "
                       "no sequence_lens (no packed sequences), sequences of the input's fixed length")
        for i, what in ((5, "initial_h"), (6, "initial_c"), (7, "P (peepholes)")):
            if i < 5 + (3 if op == "LSTM" else 1) and not self.zero(ins[i]):
                raise fail(f"{what} is not zero; nnmodel's recurrent state starts at zero"
                           + ("; nearest supported form: an LSTM without peepholes" if i == 7 else
                              "; nearest supported form: call the module without h0/c0"))
        gates = len(GATE_ORDER[op]) if op != "GRU" else 3
        w, r = self.const(node, 1, "W"), self.const(node, 2, "R")
        h = int(a["hidden_size"]) if "hidden_size" in a else int(r.shape[-1])
        if w.shape != (1, gates * h, src.size) or r.shape != (1, gates * h, h):
            raise fail(f"W {list(w.shape)}, R {list(r.shape)}: expected [1, {gates * h}, {src.size}] and "
                       f"[1, {gates * h}, {h}] (hidden_size {h}, {src.size} inputs per step)")
        b = self.const(node, 3, "B").reshape(-1) if ins[3] else np.zeros(2 * gates * h)
        if b.shape != (2 * gates * h,):
            raise fail(f"B has {b.size} values, expected {2 * gates * h}")
        order = GATE_ORDER[op]

        def ours(m: np.ndarray) -> np.ndarray:  # gate blocks of H rows in nnmodel's order
            return np.concatenate([m[g * h:(g + 1) * h] for g in order])

        b_in, b_rec = b[:gates * h], b[gates * h:]
        name = node.name or f"{op.lower()}{len(self.layers)}"
        if op == "GRU":
            reset_after = bool(int(a.get("linear_before_reset", 0)))
            fl = FloatLayer("gru", {"w_x": ours(w[0]), "w_h": ours(r[0]), "b_x": ours(b_in), "b_h": ours(b_rec)},
                            "gates", name=name, extra={"reset_after": reset_after, "weight_bits": 8})
            text = (f"gru {src.size}->{h} (gates z,r,h reordered to r,z,n; linear_before_reset="
                    f"{int(reset_after)}: reset {'after' if reset_after else 'before'} the recurrent product)")
        elif op == "LSTM":
            fl = FloatLayer("lstm", {"w_x": ours(w[0]), "w_h": ours(r[0]), "b": ours(b_in + b_rec)}, "gates",
                            name=name, extra={"weight_bits": 8})
            text = f"lstm {src.size}->{h} (gates i,o,f,c reordered to i,f,g,o; W and R biases summed)"
        else:
            relu = acts == ["relu"]
            fl = FloatLayer("rnn", {"w_ih": w[0], "w_hh": r[0], "b": b_in + b_rec}, "relu" if relu else "lut",
                            lut_function="" if relu else "tanh", name=name, extra={"weight_bits": 8})
            text = f"rnn {src.size}->{h} ({'relu' if relu else '256-entry table of tanh'}; W and R biases summed)"
        self.push(node, fl, text)
        self.open = None
        outs = node.outputs + [""] * 3
        if outs[0]:
            self.seqs[outs[0]] = Seq("y", layout, h, src.steps, name)
        if outs[1]:
            self.seqs[outs[1]] = Seq("one", layout, h, 1, name)
        if outs[2]:
            self.seqs[outs[2]] = Seq("cell", layout, h, 1, name)


def lower(g: Graph) -> Lowered:
    """FloatLayers for the graph's chain from its input; raises NNModelError at the first node that is
    not a chain step nnmodel can lower."""
    walk = _Lowering(g)
    chain: list[Node] = []
    current, states = {g.input}, set()  # the running tensor(s); the Y_h of recurrent nodes on the chain
    for node in g.nodes:  # the nodes that take the running tensor as their data input, in order
        if node.op == "Shape":  # a Shape only computes a Reshape's target or an initial state's size
            continue
        data = [i for i in node.inputs if i]
        stacked = node.op == "Concat" and data and all(i in states for i in data) and data[-1] in current
        if (node.inputs[:1] and node.inputs[0] in current) or stacked:
            chain.append(node)
            # a recurrent node's next node may read Y or Y_h (and an LSTM's Y_c, which lowering refuses)
            current = {o for o in node.outputs if o} if node.op in RECURRENT else {node.outputs[0]}
            if node.op in RECURRENT and len(node.outputs) > 1 and node.outputs[1]:
                states.add(node.outputs[1])
    # the logits path ends at a Softmax; what follows is the framework's label post-processing
    ending = next((i + 1 for i, node in enumerate(chain) if node.op == "Softmax"), len(chain))
    on_path = {g.input} | {out for node in chain[:ending - 1] for out in node.outputs}
    for node in g.nodes:
        if node not in chain and node.op != "Shape" and any(i in on_path for i in node.inputs):
            raise NNModelError(f"{g.source}: node {node.name or '?'} ({node.op}) branches off the chain of layers; "
                               "nnmodel imports a single chain (no skip connections or parallel branches)")
    output = g.input
    for i, node in enumerate(chain[:ending]):
        walk.lower(node, last=i == ending - 1)
        if node.op != "Softmax":
            output = node.outputs[0]
    if walk.average is not None:
        raise NNModelError(f"{g.source}: the network ends with an average pool; nnmodel folds an AveragePool or "
                           "GlobalAveragePool into the Gemm after it (Flatten between is fine)")
    if ending < len(chain):
        walk.notes.append("after the Softmax, " + ", ".join(sorted({n.op for n in chain[ending:]})) +
                          " (the framework's label post-processing) ignored")
    if not walk.layers or walk.layers[-1].kind != "dense":
        raise NNModelError(f"{g.source}: the network must end with a Gemm/Dense layer (the logits or outputs); it "
                           f"ends with {walk.layers[-1].kind if walk.layers else 'nothing nnmodel lowers'}")
    if walk.layers[-1].activation != "none":
        raise NNModelError(f"{g.source}: the last layer {walk.layers[-1].name} has an activation "
                           f"({walk.layers[-1].activation}); nnmodel's outputs are the last Gemm's (a Softmax at "
                           "the end is fine: it is dropped)")
    softmax = ending > 0 and chain[ending - 1].op == "Softmax"
    return Lowered(walk.layers, walk.input_shape, list(g.labels), walk.notes, walk.chain, output, softmax)

"""ONNX graphs written in the exact forms PyTorch's exporter emits, for the importer's tests (CI
installs no PyTorch). Each builder names the module sequence and the exporter form it stands for:

- nn.Linear: `Gemm(X, W [out, in], B, transB=1)` (torch.onnx.export, TorchScript exporter, opset 9+).
- nn.Conv2d(padding=0): `Conv(X, W [out, in, kh, kw], B)` with kernel_shape, pads [0,0,0,0],
  strides [1,1], dilations [1,1], group 1.
- nn.BatchNorm2d in the graph: `BatchNormalization(X, scale, B, input_mean, input_var, epsilon)`
  (the exporter folds it into the Conv in eval mode; it stays with training=TrainingMode.PRESERVE
  and in the dynamo exporter's output).
- nn.ReLU: `Relu`; nn.ReLU6: `Clip(X, min, max)` with min 0 and max 6 as constant inputs (opset 11+).
- nn.MaxPool2d(2): `MaxPool(kernel_shape [2,2], strides [2,2], pads [0,0,0,0], ceil_mode 0)`.
- nn.AvgPool2d(2): `AveragePool(kernel_shape [2,2], strides [2,2], pads [0,0,0,0], ceil_mode 0)`
  (opset 10+; PyTorch writes count_include_pad only when it is set).
- nn.AdaptiveAvgPool2d(1) (and x.mean((2, 3), keepdim=True)'s usual export): `GlobalAveragePool`.
- nn.Flatten / torch.flatten(x, 1): `Flatten(axis=1)`; x.view(x.size(0), -1):
  `Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _init(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, np.float32 if np.asarray(value).dtype.kind == "f" else None),
                                   name)


def _save(nodes: list, inits: list, in_shape: list[int], out_name: str, out_dim: int, path: Path,
          opset: int = 17) -> Path:
    graph = helper.make_graph(nodes, "torch_jit", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                 ["N", *in_shape])],
                              [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", out_dim])], inits)
    model = helper.make_model(graph, producer_name="pytorch", producer_version="2.5.1",
                              opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def linear_chain(layers: list[tuple[np.ndarray, np.ndarray, str]], path: Path) -> Path:
    """nn.Sequential(nn.Linear, act, ..., nn.Linear): (W [out, in], b, act after it: relu/relu6/"")."""
    nodes, inits, x = [], [], "input"
    for i, (w, b, act) in enumerate(layers):
        inits += [_init(f"fc{i}.weight", w), _init(f"fc{i}.bias", b)]
        nodes.append(helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [f"/fc{i}/Gemm_output_0"],
                                      name=f"/fc{i}/Gemm", alpha=1.0, beta=1.0, transB=1))
        x = f"/fc{i}/Gemm_output_0"
        if act == "relu":
            nodes.append(helper.make_node("Relu", [x], [f"/act{i}/Relu_output_0"], name=f"/act{i}/Relu"))
            x = f"/act{i}/Relu_output_0"
        elif act == "relu6":
            inits += [_init(f"/act{i}/Constant_output_0", np.array(0.0)),
                      _init(f"/act{i}/Constant_1_output_0", np.array(6.0))]
            nodes.append(helper.make_node("Clip", [x, f"/act{i}/Constant_output_0", f"/act{i}/Constant_1_output_0"],
                                          [f"/act{i}/Clip_output_0"], name=f"/act{i}/Clip"))
            x = f"/act{i}/Clip_output_0"
    nodes.append(helper.make_node("Identity", [x], ["output"], name="/Identity"))
    return _save(nodes, inits, [layers[0][0].shape[1]], "output", len(layers[-1][1]), path)


def conv_bn_relu_pool_linear(conv_w: np.ndarray, conv_b: np.ndarray, bn: tuple[np.ndarray, ...],
                             fc_w: np.ndarray, fc_b: np.ndarray, in_shape: tuple[int, int, int], path: Path,
                             view_flatten: bool = False, pool: str = "MaxPool") -> Path:
    """nn.Conv2d(c, k, 3) -> nn.BatchNorm2d(k) -> nn.ReLU -> nn.MaxPool2d(2) -> flatten -> nn.Linear, on
    NCHW input in_shape (C, H, W). bn: (gamma, beta, running_mean, running_var). view_flatten: the
    x.view(x.size(0), -1) form instead of nn.Flatten. pool: "AveragePool" (nn.AvgPool2d(2)) or
    "GlobalAveragePool" (what nn.AdaptiveAvgPool2d(1) exports) instead of nn.MaxPool2d(2)."""
    gamma, beta, mean, var = bn
    k = conv_w.shape[2]
    inits = [_init("conv.weight", conv_w), _init("conv.bias", conv_b), _init("bn.weight", gamma),
             _init("bn.bias", beta), _init("bn.running_mean", mean), _init("bn.running_var", var),
             _init("fc.weight", fc_w), _init("fc.bias", fc_b)]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["/conv/Conv_output_0"], name="/conv/Conv",
                         dilations=[1, 1], group=1, kernel_shape=[k, k], pads=[0, 0, 0, 0], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["/conv/Conv_output_0", "bn.weight", "bn.bias", "bn.running_mean",
                                                "bn.running_var"], ["/bn/BatchNormalization_output_0"],
                         name="/bn/BatchNormalization", epsilon=1e-5, momentum=0.9),
        helper.make_node("Relu", ["/bn/BatchNormalization_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
    ]
    if pool == "GlobalAveragePool":
        nodes.append(helper.make_node(pool, ["/relu/Relu_output_0"], ["/pool/MaxPool_output_0"], name="/pool/pool"))
    elif pool == "AveragePool":  # PyTorch writes count_include_pad only when it is set
        nodes.append(helper.make_node(pool, ["/relu/Relu_output_0"], ["/pool/MaxPool_output_0"],
                                      name="/pool/AveragePool", ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0],
                                      strides=[2, 2]))
    else:
        nodes.append(helper.make_node("MaxPool", ["/relu/Relu_output_0"], ["/pool/MaxPool_output_0"],
                                      name="/pool/MaxPool", ceil_mode=0, kernel_shape=[2, 2], pads=[0, 0, 0, 0],
                                      strides=[2, 2]))
    if view_flatten:
        inits += [numpy_helper.from_array(np.array(0, np.int64), "/Constant_output_0"),
                  numpy_helper.from_array(np.array([0], np.int64), "/Constant_1_output_0"),
                  numpy_helper.from_array(np.array([-1], np.int64), "/Constant_2_output_0")]
        nodes += [
            helper.make_node("Shape", ["/pool/MaxPool_output_0"], ["/Shape_output_0"], name="/Shape"),
            helper.make_node("Gather", ["/Shape_output_0", "/Constant_output_0"], ["/Gather_output_0"], name="/Gather",
                             axis=0),
            helper.make_node("Unsqueeze", ["/Gather_output_0", "/Constant_1_output_0"], ["/Unsqueeze_output_0"],
                             name="/Unsqueeze"),
            helper.make_node("Concat", ["/Unsqueeze_output_0", "/Constant_2_output_0"], ["/Concat_output_0"],
                             name="/Concat", axis=0),
            helper.make_node("Reshape", ["/pool/MaxPool_output_0", "/Concat_output_0"], ["/Reshape_output_0"],
                             name="/Reshape"),
        ]
        flat = "/Reshape_output_0"
    else:
        nodes.append(helper.make_node("Flatten", ["/pool/MaxPool_output_0"], ["/flatten/Flatten_output_0"],
                                      name="/flatten/Flatten", axis=1))
        flat = "/flatten/Flatten_output_0"
    nodes.append(helper.make_node("Gemm", [flat, "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm", alpha=1.0,
                                  beta=1.0, transB=1))
    return _save(nodes, inits, list(in_shape), "output", len(fc_b), path)


def bn_absorbing(w: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                                   tuple[np.ndarray, ...]]:
    """A conv's (W, b) and BatchNorm statistics whose composition is exactly (w, b): the BN is real
    (non-trivial scale and shift), and the network still computes what w, b were trained to."""
    n = len(b)
    gamma, beta = rng.uniform(0.5, 2.0, n), rng.normal(0, 0.2, n)
    mean, var = rng.normal(0, 0.3, n), rng.uniform(0.5, 2.0, n)
    k = gamma / np.sqrt(var + 1e-5)
    return w / k.reshape(-1, 1, 1, 1), (b - beta) / k + mean, (gamma, beta, mean, var)


# ---------------------------------------------------------------------------------------------- recurrent
# nn.GRU / nn.LSTM / nn.RNN followed by nn.Linear, as torch 2.13.0's TorchScript exporter writes them
# (torch.onnx.export(..., dynamo=False), constant folding on; checked node for node against that
# version's real output, see docs/import.md "How the tests prove it"):
# - the weights become initializers W [1, G·H, F], R [1, G·H, H], B [1, 2·G·H] with the gate blocks in
#   ONNX's order (torch's GRU r,z,n -> z,r,n; LSTM i,f,g,o -> i,o,f,g), B = [b_ih, b_hh];
# - the zero initial state forward() makes when given no h0 is computed from the input's batch size:
#   Shape -> Gather -> Unsqueeze -> Concat([layers], ., [H]) -> ConstantOfShape(0) (dynamic batch), or a
#   zero Constant [layers, N, H] -> Expand (fixed batch); with several layers each takes a Slice of it;
# - batch_first=True: Transpose [1, 0, 2] before the node and after the Squeeze of Y;
# - GRU: linear_before_reset=1; RNN: activations ["Tanh"] or ["Relu"];
# - out[:, -1] (out[-1] without batch_first): Squeeze(Y, [1]) -> (Transpose) -> Gather(-1, time axis);
#   h_n[-1]: Gather(Y_h, -1, axis 0), stacked layers concatenate their Y_h first (Concat axis 0);
#   h_n.squeeze(0): Squeeze(Y_h, [0]); out[:, -1:, :].flatten(1): Slice then Flatten;
# - opset < 13: Squeeze's axes are an attribute; opset 9 writes out[:, -1] as Slice (attributes) + Squeeze.
TORCH_TO_ONNX_GATES = {"GRU": (1, 0, 2), "LSTM": (0, 3, 1, 2), "RNN": (0,)}


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=name.replace("_output_0", ""),
                            value=numpy_helper.from_array(np.asarray(value)))


def torch_recurrent(kind: str, layers: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                    fc_w: np.ndarray, fc_b: np.ndarray, steps: int, path: Path, batch_first: bool = True,
                    use: str = "out", nonlinearity: str = "tanh", fixed_batch: int | None = None,
                    opset: int = 17) -> Path:
    """nn.<kind>(F, H, num_layers=len(layers), batch_first) -> nn.Linear on the last step; layers: torch's
    (weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}) in torch's gate order. use: "out"
    (out[:, -1] or out[-1]), "h" (h_n[-1]), "hsq" (h_n.squeeze(0)), "slice" (out[:, -1:, :].flatten(1))."""
    hidden, feat = layers[0][1].shape[1], layers[0][0].shape[1]
    order = TORCH_TO_ONNX_GATES[kind]

    def onnx_order(m: np.ndarray) -> np.ndarray:
        return np.concatenate([m[g * hidden:(g + 1) * hidden] for g in order])

    i64 = np.int64
    inits = [_init("fc.weight", fc_w), _init("fc.bias", fc_b)]
    nodes: list = []
    x, batch_axis = "input", 0 if batch_first else 1
    if fixed_batch is None:
        nodes += [helper.make_node("Shape", ["input"], ["/rnn/Shape_output_0"], name="/rnn/Shape"),
                  _const("/rnn/Constant_output_0", np.array(batch_axis, i64)),
                  helper.make_node("Gather", ["/rnn/Shape_output_0", "/rnn/Constant_output_0"],
                                   ["/rnn/Gather_output_0"], name="/rnn/Gather", axis=0),
                  _const("/rnn/Constant_1_output_0", np.array([len(layers)], i64)),
                  *_unsqueeze("/rnn/Gather_output_0", "/rnn/Unsqueeze_output_0", "/rnn/Unsqueeze", opset),
                  _const("/rnn/Constant_2_output_0", np.array([hidden], i64)),
                  helper.make_node("Concat", ["/rnn/Constant_1_output_0", "/rnn/Unsqueeze_output_0",
                                              "/rnn/Constant_2_output_0"], ["/rnn/Concat_output_0"],
                                   name="/rnn/Concat", axis=0),
                  helper.make_node("ConstantOfShape", ["/rnn/Concat_output_0"], ["/rnn/ConstantOfShape_output_0"],
                                   name="/rnn/ConstantOfShape", value=numpy_helper.from_array(np.zeros(1, np.float32)))]
        zeros = "/rnn/ConstantOfShape_output_0"
    if batch_first:
        nodes.append(helper.make_node("Transpose", ["input"], ["/rnn/Transpose_output_0"], name="/rnn/Transpose",
                                      perm=[1, 0, 2]))
        x = "/rnn/Transpose_output_0"
    if fixed_batch is not None:  # the zeros are a constant, expanded to the batch read off the (transposed) input
        nodes += [_const("/rnn/Constant_output_0", np.zeros((len(layers), fixed_batch, hidden), np.float32)),
                  helper.make_node("Shape", [x], ["/rnn/Shape_output_0"], name="/rnn/Shape"),
                  _const("/rnn/Constant_1_output_0", np.array(1, i64)),
                  helper.make_node("Gather", ["/rnn/Shape_output_0", "/rnn/Constant_1_output_0"],
                                   ["/rnn/Gather_output_0"], name="/rnn/Gather"),
                  *_unsqueeze("/rnn/Gather_output_0", "onnx::Concat_73", "Unsqueeze_13", opset),
                  _const("/rnn/Constant_2_output_0", np.array([hidden], i64)),
                  _const("onnx::Concat_108", np.array([len(layers)], i64)),
                  helper.make_node("Concat", ["onnx::Concat_108", "onnx::Concat_73", "/rnn/Constant_2_output_0"],
                                   ["/rnn/Concat_output_0"], name="/rnn/Concat", axis=0),
                  helper.make_node("Expand", ["/rnn/Constant_output_0", "/rnn/Concat_output_0"],
                                   ["/rnn/Expand_output_0"], name="/rnn/Expand")]
        zeros = "/rnn/Expand_output_0"
    states = []
    for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(layers):
        tag = "" if k == 0 else f"_{k}"
        w_name, r_name, b_name = (f"onnx::{kind}_{200 + 10 * k + j}" for j in range(3))
        inits += [_init(w_name, onnx_order(w_ih)[None]), _init(r_name, onnx_order(w_hh)[None]),
                  _init(b_name, np.concatenate([onnx_order(b_ih), onnx_order(b_hh)])[None])]
        initial = [zeros] * (2 if kind == "LSTM" else 1)
        if len(layers) > 1:  # each layer's slice of the zeros (an LSTM slices once for h0, once for c0)
            for j in range(len(initial)):
                at = f"{k}_{j}"
                nodes += [_const(f"/rnn/Constant_a{at}_output_0", np.array([0], i64)),
                          _const(f"/rnn/Constant_b{at}_output_0", np.array([k], i64)),
                          _const(f"/rnn/Constant_c{at}_output_0", np.array([k + 1], i64)),
                          helper.make_node("Slice", [zeros, f"/rnn/Constant_b{at}_output_0",
                                                     f"/rnn/Constant_c{at}_output_0", f"/rnn/Constant_a{at}_output_0"],
                                           [f"/rnn/Slice_{at}_output_0"], name=f"/rnn/Slice_{at}")]
                initial[j] = f"/rnn/Slice_{at}_output_0"
        attrs: dict = {"hidden_size": hidden}
        if kind == "GRU":
            attrs["linear_before_reset"] = 1
        if kind == "RNN":
            attrs["activations"] = ["Relu" if nonlinearity == "relu" else "Tanh"]
        outs = [f"/rnn/{kind}{tag}_output_{j}" for j in range(3 if kind == "LSTM" else 2)]
        nodes.append(helper.make_node(kind, [x, w_name, r_name, b_name, "", *initial], outs, name=f"/rnn/{kind}{tag}",
                                      **attrs))
        states.append(outs[1])
        if k < len(layers) - 1 or use in ("out", "slice"):  # Y without its direction axis
            nodes += _squeeze(outs[0], [1], f"/rnn/Squeeze{tag}", opset)
            x = f"/rnn/Squeeze{tag}_output_0"
    if use in ("out", "slice") and batch_first:
        nodes.append(helper.make_node("Transpose", [x], ["/rnn/Transpose_1_output_0"], name="/rnn/Transpose_1",
                                      perm=[1, 0, 2]))
        x = "/rnn/Transpose_1_output_0"
    time_axis = 1 if batch_first else 0
    if use == "out" and opset >= 11:
        nodes += [_const("/Constant_output_0", np.array(-1, i64)),
                  helper.make_node("Gather", [x, "/Constant_output_0"], ["/Gather_output_0"], name="/Gather",
                                   axis=time_axis)]
        last = "/Gather_output_0"
    elif use == "out" or use == "slice":
        if opset < 10:
            nodes.append(helper.make_node("Slice", [x], ["/Slice_output_0"], name="/Slice", axes=[time_axis],
                                          starts=[-1], ends=[2**63 - 1]))
        else:
            nodes += [_const("/Constant_output_0", np.array([time_axis], i64)),
                      _const("/Constant_1_output_0", np.array([-1], i64)),
                      _const("/Constant_2_output_0", np.array([2**63 - 1], i64)),
                      _const("/Constant_3_output_0", np.array([1], i64)),
                      helper.make_node("Slice", [x, "/Constant_1_output_0", "/Constant_2_output_0",
                                                 "/Constant_output_0", "/Constant_3_output_0"], ["/Slice_output_0"],
                                       name="/Slice")]
        if use == "slice" and batch_first:
            nodes.append(helper.make_node("Flatten", ["/Slice_output_0"], ["/Flatten_output_0"], name="/Flatten",
                                          axis=1))
            last = "/Flatten_output_0"
        else:
            nodes += _squeeze("/Slice_output_0", [time_axis], "/Squeeze", opset)
            last = "/Squeeze_output_0"
    elif use == "hsq":
        nodes += _squeeze(states[-1], [0], "/Squeeze", opset)
        last = "/Squeeze_output_0"
    else:  # h_n[-1]
        h = states[-1]
        if len(layers) > 1:
            nodes.append(helper.make_node("Concat", states, ["/rnn/Concat_1_output_0"], name="/rnn/Concat_1", axis=0))
            h = "/rnn/Concat_1_output_0"
        nodes += [_const("/Constant_output_0", np.array(-1, i64)),
                  helper.make_node("Gather", [h, "/Constant_output_0"], ["/Gather_output_0"], name="/Gather", axis=0)]
        last = "/Gather_output_0"
    nodes.append(helper.make_node("Gemm", [last, "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm", alpha=1.0,
                                  beta=1.0, transB=1))
    batch = fixed_batch if fixed_batch is not None else "N"
    in_shape = [batch, steps, feat] if batch_first else [steps, batch, feat]
    graph = helper.make_graph(nodes, "main_graph", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                  in_shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, len(fc_b)])], inits)
    model = helper.make_model(graph, producer_name="pytorch", producer_version="2.13.0",
                              opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _unsqueeze(x: str, out: str, name: str, opset: int) -> list:
    """torch's Unsqueeze of the batch size at axis 0: axes as a constant input from opset 13."""
    if opset < 13:
        return [helper.make_node("Unsqueeze", [x], [out], name=name, axes=[0])]
    return [_const(f"{name}_axes", np.array([0], np.int64)), helper.make_node("Unsqueeze", [x, f"{name}_axes"], [out],
                                                                              name=name)]


def _squeeze(x: str, axes: list[int], name: str, opset: int) -> list:
    """torch's Squeeze: axes as a constant input from opset 13, an attribute before."""
    if opset < 13:
        return [helper.make_node("Squeeze", [x], [f"{name}_output_0"], name=name, axes=axes)]
    const = f"{name}_axes_output_0"
    return [_const(const, np.array(axes, np.int64)),
            helper.make_node("Squeeze", [x, const], [f"{name}_output_0"], name=name)]

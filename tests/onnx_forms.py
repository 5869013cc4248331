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

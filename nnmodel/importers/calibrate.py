"""Post-training quantization of a lowered graph: the float forward, activation ranges from
calibration data, the input's codes folded into the first layer, then quantize.quantize_model,
the trainer's own export path (one reference semantics, whoever trained the weights).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .. import ops
from ..model import CLASSIFY, REGRESS, InputSpec, Model, OutputSpec
from ..quantize import FloatLayer, quantize_model
from ..train.data import NETWORK_SCALE, Units, input_spec, output_spec
from .graph import Lowered

PERCENTILE = 99.99  # of a layer's calibration outputs that maps to code 127 (the trainer's default)
# Where a table's function stops changing: its index covers [-sat, sat) at most.
SATURATES = {"tanh": 4.0, "sigmoid": 8.0}


@dataclass
class Trace:
    """Each layer's float pre-activation and output on the calibration inputs."""

    pre: list[np.ndarray]
    out: list[np.ndarray]


def float_forward(layers: list[FloatLayer], x: np.ndarray, first_form: str | None = None) -> Trace:
    """nnmodel's float forward of FloatLayers for real-valued samples x [N, *shape] (shape in nnmodel's
    layout: (F,), (T, F) or (H, W, C)); each layer through its Op, the forms adapted between layers."""
    form = first_form or ops.get(layers[0].kind).in_form  # type: ignore[union-attr]
    trace = Trace([], [])
    for fl in layers:
        op = ops.get(fl.kind)
        assert op is not None, fl.kind
        if form != op.in_form:
            x = ops.adapt(x, form, op.in_form)
        z, x = op.float_forward(fl, x)
        trace.pre.append(z)
        trace.out.append(x)
        form = op.out_form
    return trace


def shaped(x: np.ndarray, shape: tuple[int, ...], form: str) -> np.ndarray:
    """Samples [N, *shape] as the first layer reads them (a dense layer reads an image flattened HWC)."""
    if form == ops.VECTOR:
        return x.reshape(len(x), -1)
    if form == ops.MAP and len(shape) == 2:
        return x.reshape((len(x),) + shape + (1,))
    return x


def calibrate(layers: list[FloatLayer], trace: Trace) -> list[FloatLayer]:
    """Copies of the layers with output scales (and table input scales) chosen on the trace."""
    out = copy.deepcopy(layers)
    for i, fl in enumerate(out):
        last = i == len(out) - 1
        op = ops.get(fl.kind)
        if op is None or not op.has_weights or last:  # a pool passes its input's scale through
            continue
        y, z = trace.out[i], trace.pre[i]
        if fl.activation == "none":
            fl.activation = "linear"  # a hidden layer without activation still requantizes to int8
        if fl.activation == "relu":
            clip = fl.extra.get("clip")
            top = float(clip) if clip else float(np.percentile(y, PERCENTILE)) if y.size else 1.0
            fl.out_scale = max(top, 1e-6) / 127.0
        elif fl.activation == "linear":
            fl.out_scale = max(float(np.percentile(np.abs(y), PERCENTILE)) if y.size else 1.0, 1e-6) / 127.0
        elif fl.activation == "lut":
            reach = max(float(np.percentile(np.abs(z), PERCENTILE)) if z.size else 1.0, 1e-6)
            sat = SATURATES.get(fl.lut_function)
            fl.lut_in_scale = (min(reach, sat) if sat else reach) / 127.0
    return out


def fold_input(fl: FloatLayer, a: np.ndarray, c: np.ndarray) -> FloatLayer:
    """The first layer for inputs u where its real input is a·u + c (a, c per element of the input's
    last axis): W' = W·a, b' = b + Σ W·c."""
    fl = copy.deepcopy(fl)
    key = next(k for k in ("w_ih", "w_x", "w") if k in fl.weights)  # rnn, gru/lstm, dense/conv2d
    bias = "b_x" if "b_x" in fl.weights else "b"  # a gru's input bias; the ops undo this fold in integers
    w = np.asarray(fl.weights[key], np.float64)
    fl.weights[bias] = np.asarray(fl.weights[bias], np.float64) + (w * c).reshape(len(w), -1).sum(axis=1)
    fl.weights[key] = w * a
    return fl


def input_affine(spec: InputSpec, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, c) with x = a·(code·scale) + c, per element of the first layer's input axis of `width`."""
    from ..realvalues import features

    fs = features(spec)
    s = np.array([f.scale for f in fs])
    z = np.array([f.zero_point + (128 if spec.dtype == "int8" else 0) for f in fs], np.float64)
    reps = width // len(fs)
    return np.tile(s / spec.scale, reps), np.tile(-s * z, reps)


@dataclass
class Quantized:
    model: Model
    calibrated: list[FloatLayer]  # in physical input units, scales chosen


def quantize_lowered(lowered: Lowered, x: np.ndarray, targets: np.ndarray, task: str, names: list[str],
                     feature_names: list[str], units: Units, name: str, per_channel: bool, weight_bits: int,
                     provenance: dict, where: str) -> Quantized:
    """The integer model of a lowered graph, calibrated on x [N, *lowered.input_shape] (physical units)."""
    layers = copy.deepcopy(lowered.layers)
    for fl in layers:
        op = ops.get(fl.kind)
        if op is not None and op.has_weights:
            fl.extra["weight_bits"] = weight_bits
    first = ops.get(layers[0].kind)
    assert first is not None
    trace = float_forward(layers, shaped(x, lowered.input_shape, first.in_form), first.in_form)
    calibrated = calibrate(layers, trace)
    spec = input_spec(x, lowered.input_shape, feature_names, units, where)
    spec.scale = NETWORK_SCALE
    width = ops.input_shape(spec.rows, spec.cols, first.in_form, spec.channels)[-1]
    a, c = input_affine(spec, width)
    first_layer = fold_input(calibrated[0], a, c)
    first_layer.extra["input_zero"] = -c / (a * spec.scale)  # the codes' zero points, folded in integers
    folded = [first_layer] + calibrated[1:]
    model = quantize_model(name, folded, labels=names, input_spec=spec, per_channel=per_channel,
                           provenance=provenance)
    if task == REGRESS:
        model.output = output_spec(REGRESS, targets, names, units)
    else:
        model.output = OutputSpec(CLASSIFY)
    return Quantized(model, calibrated)

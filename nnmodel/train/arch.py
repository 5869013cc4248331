"""The --arch mini-language: `mlp:784-128-10`, `rnn:28-5-8-10`, `rnn-tanh:28-5-8-10`,
`gru:28x28-p2-6-10`, `lstm:3-16-5`, `cnn:28x28-c6-p2-c6-p3-10`.

    mlp[-ACT]:IN-H1-...-OUT       dense layers on IN features (an image or sequence flattened); hidden
                                  activation ACT (default relu); OUT classes or regression outputs last
    rnn[-ACT]:COLS-U1-...-OUT     stacked Elman layers fed one step of COLS features per row (ACT default
                                  hardtanh), then one dense logits layer on the last top hidden state
    rnn[-ACT]:COLS-U1-.../D1-...-CLASSES  optional dense hidden layers after the '/' (relu)
    gru:COLS-U1-...-OUT           stacked GRU layers (integer sigmoid/tanh gates, docs/recurrent.md), then
    lstm:COLS-U1-...-OUT          the dense logits as for rnn ('/' dense layers too); no ACT
    rnn|gru|lstm:HxW[xC]-pN-...-U1-...-OUT  an H×W×C image max-pooled N×N (one or more pN) first; the
                                  pooled map's rows are the steps, each of W/N·C values: gru:28x28-p2-6-10
                                  is 14 steps of 14 pooled pixels

    cnn[-ACT]:HxW[xC]-L1-...-OUT  an H×W×C image (C default 1) through conv/pool layers, then dense layers: Lk is
                                  cN (3×3 valid conv to N channels, ACT default relu; cNkK for K×K),
                                  pN (N×N max pool, floor) or, after the last c/p, a dense size (relu)

ACT is relu, hardtanh or tanh (tanh runs as a 256-entry LUT in the integer model; not for cnn).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import NNModelError

ACTIVATIONS = {"relu": "relu", "hardtanh": "hardtanh", "tanh": "lut"}
DEFAULT_ACT = {"mlp": "relu", "rnn": "hardtanh", "gru": "", "lstm": "", "cnn": "relu"}
RECURRENT = ("rnn", "gru", "lstm")
GATED = ("gru", "lstm")  # fixed integer sigmoid/tanh gates: no ACT
EXAMPLES = "e.g. mlp:784-128-10, rnn:28-5-8-10, rnn-tanh:28-5-8-10, gru:28x28-p2-6-10 or cnn:28x28-c6-p2-c6-p3-10"


@dataclass(frozen=True)
class LayerSpec:
    kind: str  # "dense" | "rnn" | "gru" | "lstm" | "conv2d" | "maxpool2d"
    n_in: int  # conv/pool: h·w·c of the input map
    n_out: int  # conv/pool: h·w·c of the output map
    activation: str  # relu | hardtanh | lut | gates (gru, lstm) | none (logits; also a pool, no activation)
    lut_function: str = ""
    in_shape: tuple[int, int, int] = (0, 0, 0)  # conv/pool: (h, w, c)
    size: int = 0  # conv: kernel; pool: window
    channels: int = 0  # conv: output channels

    @property
    def out_shape(self) -> tuple[int, int, int]:
        h, w, c = self.in_shape
        if self.kind == "conv2d":
            return (h - self.size + 1, w - self.size + 1, self.channels)
        return (h // self.size, w // self.size, c)


@dataclass(frozen=True)
class Arch:
    text: str
    family: str  # "mlp" | "rnn" | "gru" | "lstm" | "cnn"
    layers: tuple[LayerSpec, ...]

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def recurrent(self) -> bool:
        return self.family in RECURRENT

    @property
    def image_front(self) -> tuple[int, int, int] | None:
        """(h, w, c) of the image a map front (cnn, or pools before a recurrence) reads; None otherwise."""
        first = self.layers[0]
        return first.in_shape if first.kind in ("conv2d", "maxpool2d") else None

    def check_weight_bits(self, bits: int) -> None:
        if bits != 8 and self.recurrent:
            raise NNModelError(f"--weight-bits {bits}: {self.family.upper()} weights are int8 only; use it with "
                               "mlp or cnn")

    def input_shape(self, data_shape: tuple[int, ...], source: str) -> tuple[int, ...]:
        """The input tensor shape this architecture reads data of `data_shape` (one sample) as; a
        one-line error naming the data, the arch and one that would fit when it cannot."""
        n = int(np.prod(data_shape))
        shape = tuple(int(d) for d in data_shape)
        front = self.image_front
        if front is not None:
            h, w, c = front
            if shape == (h, w, c) or (c == 1 and shape == (h, w)):
                return (h, w, c)
            fix = f"cnn:{'x'.join(map(str, shape))}-c6-p2-{self.layers[-1].n_out}" if len(shape) >= 2 else \
                f"mlp:{n}-16-{self.layers[-1].n_out}"
            raise NNModelError(f"{source}: samples have shape {_dims(shape)}, but --arch {self.text} takes "
                               f"{h}x{w}x{c} images; e.g. --arch {fix}")
        if self.recurrent:
            width = shape[-1] * shape[-2] if len(shape) == 3 else shape[-1]
            if len(shape) >= 2 and width == self.n_in:
                return shape
            fix = (f"{self.family}:{width}-16-{self.layers[-1].n_out}" if len(shape) >= 2
                   else f"mlp:{n}-16-{self.layers[-1].n_out}")
            raise NNModelError(f"{source}: samples have shape {_dims(shape)}, but --arch {self.text} takes "
                               f"sequences of {self.n_in} features per step; e.g. --arch {fix}")
        if n != self.n_in:
            raise NNModelError(f"{source}: samples have shape {_dims(shape)}, but --arch {self.text} takes "
                               f"{self.n_in} features; e.g. --arch mlp:{n}-16-{self.layers[-1].n_out}")
        return shape

    def check_images(self, shape: tuple[int, ...], source: str) -> None:
        """Refuse images [N, rows, cols] this architecture cannot read, naming an --arch that can."""
        rows, cols = shape[1], shape[2]
        front = self.image_front
        if front is not None:
            h, w, _ = front
            if (h, w) != (rows, cols):
                fix = (f"{self.family}:{rows}x{cols}-p2-6-10" if self.recurrent else
                       f"cnn:{rows}x{cols}-c6-p2-c6-p3-10")
                raise NNModelError(f"--arch {self.text}: takes {h}x{w} images but {source} has {rows}x{cols}; "
                                   f"e.g. {fix}")
        per_row = self.recurrent and front is None
        have = cols if per_row else rows * cols
        if self.n_in != have:
            raise NNModelError(f"--arch {self.text}: takes {self.n_in} inputs but {source} gives {have} per "
                               f"{'row' if per_row else 'image'}; e.g. mlp:{rows * cols}-128-10 "
                               f"or rnn:{cols}-5-8-10")


def _sizes(part: str, text: str) -> list[int]:
    try:
        sizes = [int(s) for s in part.split("-")] if part else []
    except ValueError:
        raise NNModelError(f"--arch {text!r}: sizes must be integers joined by '-'; {EXAMPLES}") from None
    if any(not 1 <= s <= 65535 for s in sizes):
        raise NNModelError(f"--arch {text!r}: every size must be in 1..65535; {EXAMPLES}")
    return sizes


def parse_arch(text: str) -> Arch:
    """Parse an --arch string; raise NNModelError (one line) on anything malformed."""
    head, sep, body = text.strip().partition(":")
    family, _, act_name = head.partition("-")
    if not sep or family not in DEFAULT_ACT:
        raise NNModelError(f"--arch {text!r}: expected FAMILY[-ACT]:SIZES with FAMILY mlp, rnn, gru, lstm or cnn; "
                           f"{EXAMPLES}")
    if family in GATED:
        if act_name:
            raise NNModelError(f"--arch {text!r}: {family} layers have fixed sigmoid/tanh gates; drop "
                               f"'-{act_name}'; {EXAMPLES}")
        act, lut = "gates", ""
    else:
        act_name = act_name or DEFAULT_ACT[family]
        if act_name not in ACTIVATIONS:
            raise NNModelError(f"--arch {text!r}: unknown activation {act_name!r}; use one of "
                               f"{', '.join(ACTIVATIONS)}")
        act = ACTIVATIONS[act_name]
        lut = "tanh" if act == "lut" else ""
    if family == "cnn":
        return _parse_cnn(text, act, body)
    front, _, back = body.partition("/")
    layers: list[LayerSpec] = []
    if family in RECURRENT:
        layers, front = _image_front(text, family, front)
    sizes = _sizes(front, text)
    dense = _sizes(back, text)
    if family == "mlp" and back:
        raise NNModelError(f"--arch {text!r}: '/' separates RNN from dense sizes and only applies to rnn, gru and "
                           f"lstm; {EXAMPLES}")
    if family == "mlp":
        if len(sizes) < 2:
            raise NNModelError(f"--arch {text!r}: needs at least inputs and classes; {EXAMPLES}")
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers.append(LayerSpec("dense", a, b, act, lut))
    else:
        # rnn:COLS-U..-CLASSES, or rnn:COLS-U../D..-CLASSES (COLS from the pooled image after HxW-pN)
        units, tail = (sizes[1:], dense) if back else (sizes[1:-1], sizes[-1:])
        if len(sizes) < 2 or not units or not tail:
            raise NNModelError(f"--arch {text!r}: needs input columns, at least one {family.upper()} layer and "
                               f"classes; {EXAMPLES}")
        width = sizes[0]
        for u in units:
            layers.append(LayerSpec(family, width, u, act, lut))
            width = u
        sizes = [width] + tail
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers.append(LayerSpec("dense", a, b, "relu"))
    layers.append(LayerSpec("dense", sizes[-2], sizes[-1], "none"))
    return Arch(text, family, tuple(layers))


def _image_front(text: str, family: str, front: str) -> tuple[list[LayerSpec], str]:
    """A recurrence's optional image front, HxW[xC]-pN-...: (the max-pool layers, the sizes text with
    the pooled row width W'·C in place of the image size). Without HxW, ([], front) unchanged."""
    tokens = front.split("-")
    m = re.fullmatch(r"(\d+)x(\d+)(?:x(\d+))?", tokens[0])
    if not m:
        return [], front

    def fail(why: str) -> NNModelError:
        return NNModelError(f"--arch {text!r}: {why}; e.g. {family}:28x28-p2-6-10")

    shape = (int(m[1]), int(m[2]), int(m[3] or 1))
    if not all(1 <= d <= 1024 for d in shape):
        raise fail(f"image size {tokens[0]!r}: each dimension must be 1..1024")
    layers: list[LayerSpec] = []
    k = 1
    while k < len(tokens) and re.fullmatch(r"p\d+", tokens[k]):
        size = int(tokens[k][1:])
        if size < 2:
            raise fail(f"{tokens[k]!r}: a pool window must be at least 2")
        spec = LayerSpec("maxpool2d", 0, 0, "none", in_shape=shape, size=size)
        out = spec.out_shape
        if min(out[:2]) < 1:
            raise fail(f"{tokens[k]!r} does not fit the {shape[0]}x{shape[1]} map it gets")
        layers.append(LayerSpec("maxpool2d", _volume(shape), _volume(out), "none", in_shape=shape, size=size))
        shape = out
        k += 1
    if not layers:
        raise fail("an image size HxW comes with at least one max pool pN (without one, give the row width: "
                   f"{family}:{shape[1] * shape[2]}-...)")
    if any(re.fullmatch(r"p\d.*", tok) for tok in tokens[k:]):
        raise fail("pools (pN) come right after the image size, before the layer sizes")
    return layers, "-".join([str(shape[1] * shape[2])] + tokens[k:])


def _parse_cnn(text: str, act: str, body: str) -> Arch:
    """cnn:HxW-c6-p2-c6-p3-[dense sizes-]CLASSES (see the module docstring)."""
    def fail(why: str) -> NNModelError:
        return NNModelError(f"--arch {text!r}: {why}; e.g. cnn:28x28-c6-p2-c6-p3-10")

    if act == "lut":
        raise fail("a conv layer takes relu or hardtanh, not a tanh table")
    tokens = body.split("-")
    m = re.fullmatch(r"(\d+)x(\d+)(?:x(\d+))?", tokens[0])
    if not m:
        raise fail(f"starts with the image size HxW or HxWxC, not {tokens[0]!r}")
    shape = (int(m[1]), int(m[2]), int(m[3] or 1))
    if not all(1 <= d <= 1024 for d in shape):
        raise fail(f"image size {tokens[0]!r}: each dimension must be 1..1024")
    layers: list[LayerSpec] = []
    k = 1
    for k in range(1, len(tokens)):
        tok = tokens[k]
        conv = re.fullmatch(r"c(\d+)(?:k(\d+))?", tok)
        pool = re.fullmatch(r"p(\d+)", tok)
        if not (conv or pool):
            break
        if conv:
            spec = LayerSpec("conv2d", 0, 0, act, in_shape=shape, size=int(conv[2] or 3), channels=int(conv[1]))
            if not 1 <= spec.channels <= 255 or spec.size < 1:
                raise fail(f"{tok!r}: channels must be 1..255 and the kernel at least 1")
        else:
            if not layers:
                raise fail("the first layer after the image size must be a conv (cN)")
            assert pool is not None
            spec = LayerSpec("maxpool2d", 0, 0, "none", in_shape=shape, size=int(pool[1]))
            if spec.size < 2:
                raise fail(f"{tok!r}: a pool window must be at least 2")
        out = spec.out_shape
        if min(out[:2]) < 1:
            raise fail(f"{tok!r} does not fit the {shape[0]}x{shape[1]} map it gets")
        layers.append(LayerSpec(spec.kind, _volume(shape), _volume(out), spec.activation, in_shape=shape,
                                size=spec.size, channels=spec.channels))
        shape = out
    else:
        k = len(tokens)
    if not layers:
        raise fail("needs at least one conv layer (cN) after the image size")
    rest = tokens[k:]
    if any(re.fullmatch(r"[cp]\d.*", tok) for tok in rest):
        raise fail("conv (cN) and pool (pN) layers come before the dense sizes")
    dense = _sizes("-".join(rest), text) if rest else []
    if not dense:
        raise fail("ends with the number of classes")
    sizes = [_volume(shape)] + dense
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers.append(LayerSpec("dense", a, b, "relu"))
    layers.append(LayerSpec("dense", sizes[-2], sizes[-1], "none"))
    return Arch(text, "cnn", tuple(layers))


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _volume(shape: tuple[int, int, int]) -> int:
    return shape[0] * shape[1] * shape[2]

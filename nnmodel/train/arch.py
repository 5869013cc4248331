"""The --arch mini-language: `mlp:784-128-10`, `rnn:28-5-8-10`, `rnn-tanh:28-5-8-10`.

    mlp[-ACT]:IN-H1-...-CLASSES   dense layers; hidden activation ACT (default relu), logits last
    rnn[-ACT]:COLS-U1-...-CLASSES stacked Elman layers fed one COLS-pixel row per step (ACT default
                                  hardtanh), then one dense logits layer on the last top hidden state
    rnn[-ACT]:COLS-U1-.../D1-...-CLASSES  optional dense hidden layers after the '/' (relu)

ACT is relu, hardtanh or tanh (tanh runs as a 256-entry LUT in the integer model).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import NNModelError

ACTIVATIONS = {"relu": "relu", "hardtanh": "hardtanh", "tanh": "lut"}
DEFAULT_ACT = {"mlp": "relu", "rnn": "hardtanh"}
EXAMPLES = "e.g. mlp:784-128-10, rnn:28-5-8-10 or rnn-tanh:28-5-8-10"


@dataclass(frozen=True)
class LayerSpec:
    kind: str  # "dense" | "rnn"
    n_in: int
    n_out: int
    activation: str  # relu | hardtanh | lut | none (logits)
    lut_function: str = ""


@dataclass(frozen=True)
class Arch:
    text: str
    family: str  # "mlp" | "rnn"
    layers: tuple[LayerSpec, ...]

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in


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
        raise NNModelError(f"--arch {text!r}: expected FAMILY[-ACT]:SIZES with FAMILY mlp or rnn; {EXAMPLES}")
    act_name = act_name or DEFAULT_ACT[family]
    if act_name not in ACTIVATIONS:
        raise NNModelError(f"--arch {text!r}: unknown activation {act_name!r}; use one of {', '.join(ACTIVATIONS)}")
    act = ACTIVATIONS[act_name]
    lut = "tanh" if act == "lut" else ""
    front, _, back = body.partition("/")
    sizes = _sizes(front, text)
    dense = _sizes(back, text)
    if family == "mlp" and back:
        raise NNModelError(f"--arch {text!r}: '/' separates RNN from dense sizes and only applies to rnn; {EXAMPLES}")
    layers: list[LayerSpec] = []
    if family == "mlp":
        if len(sizes) < 2:
            raise NNModelError(f"--arch {text!r}: needs at least inputs and classes; {EXAMPLES}")
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers.append(LayerSpec("dense", a, b, act, lut))
    else:
        # rnn:COLS-U..-CLASSES, or rnn:COLS-U../D..-CLASSES
        units, tail = (sizes[1:], dense) if back else (sizes[1:-1], sizes[-1:])
        if len(sizes) < 2 or not units or not tail:
            raise NNModelError(f"--arch {text!r}: needs input columns, at least one RNN layer and classes; {EXAMPLES}")
        width = sizes[0]
        for u in units:
            layers.append(LayerSpec("rnn", width, u, act, lut))
            width = u
        sizes = [width] + tail
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers.append(LayerSpec("dense", a, b, "relu"))
    layers.append(LayerSpec("dense", sizes[-2], sizes[-1], "none"))
    return Arch(text, family, tuple(layers))

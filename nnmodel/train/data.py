"""A user's data for training: the input's quantization chosen from the data, codes, targets.

Each input feature (each channel of an image) gets a uint8 code range from the values the trainer
may look at (never the test rows): whole numbers that span at most 256 values map one to one, so
ADC counts or 0..16 pixels lose nothing; real values spread over the 256 codes with 1% headroom
each side, centred on code 128. A feature's `step`, the unit of the firmware's raw integers, is the
data's own grid: 1 for whole numbers, 2^-k (a sensor's binary fraction: 1/16 °C, 1/1024 g) or
10^-d (printed decimals), else a decimal unit about 1/100 of a code. The network reads codes/255;
standardization per feature is the trainer's (Network.input_mean/std), folded into the first
layer at export.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import NNModelError
from ..model import CLASSIFY, REGRESS, Feature, InputSpec, OutputSpec
from ..realvalues import FixedRatio, codes_from_values, network_rows

NETWORK_SCALE = 1.0 / 255.0  # the first layer reads code / 255, as it reads MNIST pixels
HEADROOM = 0.01
OUTPUT_DECIMALS = 3  # a regression output's integer form counts 1/1000 of its unit unless that overflows


@dataclass(frozen=True)
class Units:
    """Physical units by feature or output name (`--units adc=count,true_c=degC`)."""

    by_name: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Units:
        out: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, unit = part.partition("=")
            if not sep or not name.strip() or len(unit.strip()) > 16 or not unit.strip().isprintable() \
                    or not unit.isascii() or "??" in unit:
                raise NNModelError(f"--units {text!r}: expected NAME=UNIT pairs joined by ',' (a unit is at most "
                                   "16 printable ASCII characters), e.g. --units adc=count,true_c=degC")
            out[name.strip()] = unit.strip()
        return cls(out)

    def of(self, name: str) -> str:
        return self.by_name.get(name, "")


MIN_STEP_CODES = 2.0**-24  # the finest raw step a model file accepts, in codes (fileformat reads input.features)


def grid_step(values: np.ndarray, fallback: float = 1e-3) -> float:
    """The coarsest of 1, 2^-k (k ≤ 16), 10^-d (d ≤ 9) that every value is a whole multiple of, else
    `fallback`."""
    v = np.asarray(values, np.float64).ravel()
    for step in [1.0] + [2.0**-k for k in range(1, 17)] + [10.0**-d for d in range(1, 10)]:
        # within float rounding of the value itself (a relative tolerance on v/step would let a
        # fine enough grid match anything)
        if np.all(np.abs(v - np.round(v / step) * step) <= 1e-9 * np.maximum(1.0, np.abs(v))):
            return step
    return fallback


def feature_quant(values: np.ndarray, name: str, unit: str, where: str) -> Feature:
    """The code range of one feature (or of a whole image) from the values it may learn from."""
    v = np.asarray(values, np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    # no grid in the data: raw integers resolve 1/100 of a code, in a decimal unit
    no_grid = 10.0 ** math.floor(math.log10(max(hi - lo, 1e-9) / 255 / 100))
    step = grid_step(v, no_grid)
    if step == 1.0 and hi - lo <= 255:
        scale = 1.0  # one code per whole number: lossless
        zero = 128 - math.floor((lo + hi) / 2)
    else:
        scale = max(hi - lo, 1e-9) * (1 + 2 * HEADROOM) / 255
        zero = 128 - round((lo + hi) / 2 / scale)
    if not -32768 <= zero <= 32767:
        raise NNModelError(f"{where}: feature {name!r} spans {lo:g}..{hi:g}, too narrow a range this far from 0 "
                           "for a 16-bit zero point; subtract an offset from it in the data")
    if step / scale < MIN_STEP_CODES:  # float data match the 10^-9 "grid" within rounding: that is no grid
        step = no_grid
    try:
        FixedRatio.of(step / scale)
    except ValueError:
        step = scale  # a grid far finer than the codes: raw integers count codes
    return Feature(name, unit, scale, zero, step)


def input_spec(x: np.ndarray, shape: tuple[int, ...], names: list[str], units: Units, where: str) -> InputSpec:
    """The input of a model reading samples x [N, *data shape] as `shape` (Arch.input_shape): per
    feature for vectors and sequences, one for a whole image (its channels share a range)."""
    spec = InputSpec.of_shape(shape, scale=NETWORK_SCALE)
    data = np.asarray(x, np.float64).reshape((len(x),) + spec.shape)
    if spec.kind == "image":
        name = names[0] if spec.channels == 1 and len(names) == 1 else "pixel"
        features: tuple[Feature, ...] = (feature_quant(data, name, units.of(name), where),)
    else:
        columns = data.reshape(-1, spec.n_features)
        if len(names) != spec.n_features:
            names = [f"x{i}" for i in range(spec.n_features)]
        features = tuple(feature_quant(columns[:, f], names[f], units.of(names[f]), where)
                         for f in range(spec.n_features))
    spec.features = features
    return spec


def codes(spec: InputSpec, x: np.ndarray) -> np.ndarray:
    """Samples [N, *data shape] as network codes, uint8 [N, rows, cols]."""
    data = np.asarray(x, np.float64).reshape((len(x),) + spec.shape)
    return network_rows(spec, codes_from_values(spec, data))


def standardization(spec: InputSpec, rows: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the network's view (code · scale) of training rows [N, rows, cols],
    repeated along the first layer's input axis of `width` elements (inputs, a step's, or channels)."""
    view = rows.reshape(-1, spec.n_features).astype(np.float64) * spec.scale
    mean, std = view.mean(axis=0), view.std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)  # a constant feature: leave it unscaled
    reps = width // spec.n_features
    return np.tile(mean, reps), np.tile(std, reps)


def output_spec(task: str, targets: np.ndarray, names: list[str], units: Units) -> OutputSpec:
    if task == CLASSIFY:
        return OutputSpec()
    big = float(np.abs(targets).max()) if targets.size else 1.0
    decimals = OUTPUT_DECIMALS
    while decimals > 0 and big * 4 * 10.0**decimals > 2**31:  # keep 4x headroom in int32
        decimals -= 1
    return OutputSpec(REGRESS, tuple(units.of(n) for n in names), (10.0**-decimals,) * len(names))

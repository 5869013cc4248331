"""Model contract v3: any input shape, int8/uint8 codes with physical meaning, regression outputs.

The file format round-trips them and refuses defects in one line; the generated C equals the
reference bit for bit on every input kind, through feed_row (codes) and through the real-valued
API (feed_raw: raw firmware integers, output: fixed-point outputs), which nnmodel.realvalues
specifies; version 1/2 models are still written as before.
"""
from __future__ import annotations

import dataclasses
import json
import math
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import small_mlp
from randmodels import random_conv_model, random_images, random_model

from nnmodel import NNModelError, fileformat, hostc, realvalues, reference
from nnmodel.model import REGRESS, Feature, InputSpec, Model, OutputSpec
from nnmodel.realvalues import FixedRatio


def as_v3(model: Model, rng: np.random.Generator, kind: str | None = None) -> Model:
    """The model with a version-3 input of the same rows and cols (random kind, dtype, features)
    and, at random, regression outputs."""
    spec = model.input
    first = type(model.layers[0]).__name__
    if spec.kind == "image" and spec.channels > 1:
        new = dataclasses.replace(spec)
    elif first == "RNN" or kind == "sequence":
        new = InputSpec.of_shape((spec.rows, spec.cols))
    elif first == "Dense" and spec.rows == 1:
        new = InputSpec.of_shape((spec.cols,))
    else:
        new = InputSpec.of_shape((spec.rows, spec.cols, 1))
    new.scale = spec.scale
    new.dtype = str(rng.choice(["uint8", "int8"]))
    n = 1 if rng.random() < 0.3 else new.n_features
    feats = []
    for f in range(n):
        scale = float(10 ** rng.uniform(-3, 2))
        step = scale * float(10 ** rng.uniform(-2, 1.5))
        feats.append(Feature(f"f{f}", "u", scale, int(rng.integers(-300, 300)), step))
    new.features = tuple(feats)
    out = model.output
    if rng.random() < 0.5:
        k = model.n_classes
        out = OutputSpec(REGRESS, ("degC",) * k, tuple(10.0 ** int(rng.integers(-4, 1)) for _ in range(k)))
    return dataclasses.replace(model, input=new, output=out, name=model.name + "_v3")


def model_codes(model: Model, rows: np.ndarray) -> np.ndarray:
    """uint8 network rows [N, rows, cols] as the model's codes (int8 ones are the rows - 128)."""
    return (rows.astype(np.int16) - 128).astype(np.int8) if model.input.dtype == "int8" else rows


def v3_models() -> list[Model]:
    out = []
    for seed in range(12):
        rng = np.random.default_rng(1000 + seed)
        if seed % 4 == 0:
            base = random_conv_model(rng, f"c{seed}", max_side=10, channels=int(rng.integers(2, 4)))
        elif seed % 4 == 1:
            base = random_conv_model(rng, f"c{seed}", max_side=10)
        else:
            base = random_model(rng, f"r{seed}")
        out.append(as_v3(base, rng))
    return out


MODELS = v3_models()


@pytest.mark.parametrize("model", MODELS, ids=[m.name for m in MODELS])
def test_v3_round_trip_and_c_equals_reference(tmp_path: Path, model: Model) -> None:
    raw = fileformat.to_bytes(model)
    assert struct.unpack_from("<I", raw, 8)[0] == 3
    back = fileformat.from_bytes(raw, "m.nnm")
    assert fileformat.to_bytes(back) == raw and back.input == model.input and back.output == model.output
    rng = np.random.default_rng(7)
    codes = model_codes(back, random_images(rng, back, 40))
    expected = reference.run(back, codes)
    build = hostc.build(back, tmp_path)
    assert (build.logits(codes) == expected).all()
    # the real-valued path: raw integers spread over each feature's code range, and beyond it
    spec = back.input
    steps = np.array([f.step for f in realvalues.features(spec)])
    scales = np.array([f.scale for f in realvalues.features(spec)])
    zeros = np.array([f.zero_point for f in realvalues.features(spec)])
    values = (rng.uniform(-40, 300, (40, spec.rows, spec.cols // spec.n_features, spec.n_features))
              - zeros) * scales
    raw_in = np.clip(np.round(values / steps), -2**31, 2**31 - 1).astype(np.int64).reshape(40, spec.rows, spec.cols)
    raw_in[0] = 2**31 - 1  # saturation at both ends
    raw_in[1] = -2**31
    codes_raw = realvalues.codes_from_raw(spec, raw_in.reshape((40,) + spec.shape)).reshape(40, spec.rows, spec.cols)
    logits, classes, fixed = build.raw(raw_in)
    assert (logits == reference.run(back, codes_raw)).all()
    assert (classes == np.argmax(logits, axis=1)).all()
    assert (fixed == realvalues.outputs_fixed(back, logits)).all()


def test_fixmul_is_exact_against_python_integers() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        ratio = float(2.0 ** rng.uniform(-32, 24))
        r = FixedRatio.of(ratio)
        assert 2**30 <= r.mult < 2**31 and 6 <= r.shift <= 62
        assert abs(r.mult / 2**r.shift - ratio) <= ratio * 2**-30
        v = rng.integers(-2**31, 2**31, 50)
        got = r.apply(v)
        want = [(int(x) * r.mult + (1 << (r.shift - 1))) >> r.shift for x in v]
        assert got.tolist() == want


def test_raw_and_value_paths_agree() -> None:
    """A raw integer and its physical value give the same code (up to the float path's rounding)."""
    spec = InputSpec.of_shape((2,), features=(Feature("adc", "count", 2.728, -52, 1.0),
                                              Feature("board_c", "degC", 0.33625, 31, 0.0625)))
    raw = np.array([[149 + k * 3, -160 + k * 9] for k in range(240)])
    values = raw * np.array([1.0, 0.0625])
    a, b = realvalues.codes_from_raw(spec, raw), realvalues.codes_from_values(spec, values)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1 and (a == b).mean() > 0.99


def test_v1_models_are_still_written_as_v1() -> None:
    raw = fileformat.to_bytes(small_mlp())
    assert struct.unpack_from("<I", raw, 8)[0] == 1 and b'"feed":"rows"' in raw and b'"output"' not in raw


def _edit(model: Model, change) -> bytes:
    """The model's file with its JSON header edited by `change` (the CRC recomputed)."""
    raw = fileformat.to_bytes(model)
    hlen = struct.unpack_from("<I", raw, 12)[0]
    header = json.loads(raw[16:16 + hlen])
    change(header)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = raw[:12] + struct.pack("<I", len(text)) + text + raw[16 + hlen:-4]
    return body + struct.pack("<I", zlib.crc32(body))


REGRESSION = dataclasses.replace(small_mlp(), output=OutputSpec(REGRESS, ("V",) * 10, (0.001,) * 10))
BAD = {
    "kind": (lambda h: h["input"].update(kind="cube"), "input.kind: 'cube': expected one of image, sequence, vector"),
    "shape": (lambda h: h["input"].update(shape=[0]), "input.shape: [0]: a "),
    "dtype": (lambda h: h["input"].update(dtype="int16"), "input.dtype: 'int16': expected uint8 or int8"),
    "features": (lambda h: h["input"].update(features=[h["input"]["features"][0]] * 2),
                 "input.features: 2 entries; expected none, 1 (per tensor) or"),
    "name": (lambda h: h["input"]["features"][0].update(name="a??b"), "input.features[0].name"),
    "step": (lambda h: h["input"]["features"][0].update(step=1e30), "input.features[0].step: one raw step is"),
    "task": (lambda h: h["output"].update(task="rank"), "output.task: 'rank': expected classify or regress"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_v3_field_defects_are_one_line(case: str) -> None:
    model = dataclasses.replace(REGRESSION, input=InputSpec.of_shape(
        (784,), scale=1 / 255, features=(Feature("x", "", 0.5, 3, 1.0),)), output=OutputSpec(REGRESS, ("V",) * 10,
                                                                                             (0.001,) * 10))
    change, message = BAD[case]
    with pytest.raises(NNModelError) as info:
        fileformat.from_bytes(_edit(model, change), "m.nnm")
    text = str(info.value)
    assert text.startswith("m.nnm: ") and message in text and "\n" not in text


def test_regression_output_steps_must_fit() -> None:
    model = dataclasses.replace(REGRESSION, output=OutputSpec(REGRESS, ("V",) * REGRESSION.n_classes,
                                                              (1e-30,) * REGRESSION.n_classes))
    model = dataclasses.replace(model, input=InputSpec.of_shape((784,), scale=1 / 255))
    with pytest.raises(NNModelError, match=r"output.steps: unit ratio .* outside 2\^-32\.\.2\^24"):
        fileformat.from_bytes(fileformat.to_bytes(model), "m.nnm")


def test_float_helpers_compile_only_on_request(tmp_path: Path) -> None:
    """Without NNMODEL_WITH_FLOAT no float is in the model's object file; with it, feed_values and
    output_value follow the float path of nnmodel.realvalues (same codes up to float rounding)."""
    model = dataclasses.replace(REGRESSION, input=InputSpec.of_shape(
        (28, 28), scale=1 / 255, features=(Feature("x", "mV", 4.0, 10, 1.0),)))
    from nnmodel.codegen import compile_model

    gen = tmp_path / "gen"
    compile_model(model, target="native", storage="flash", out_dir=gen)
    rt = hostc.runtime_dir()
    obj = tmp_path / "m.o"
    cc = hostc.find_cc()
    base = [cc, *hostc.WARNINGS, "-O2", "-I", str(gen), "-I", str(rt / "include"), "-c", str(gen / f"{model.name}.c")]
    subprocess.run([*base, "-o", str(obj)], check=True)
    symbols = subprocess.run(["nm", str(obj)], capture_output=True, text=True, check=True).stdout
    assert "feed_values" not in symbols and "output_value" not in symbols
    main = tmp_path / "main.c"
    main.write_text("""#include <stdio.h>
#include "nnmodel.h"
int main(void)
{
    float x[NNMODEL_INPUT_COLS];
    unsigned r, i;
    nnmodel_begin();
    for (r = 0; r < NNMODEL_INPUT_ROWS; r++) {
        for (i = 0; i < NNMODEL_INPUT_COLS; i++) {
            x[i] = (float)((int)((r * 31u + i * 17u) % 300u) - 20) * 4.0f;
        }
        nnmodel_feed_values(x);
    }
    nnmodel_finish(NULL);
    for (i = 0; i < NNMODEL_NUM_OUTPUTS; i++) {
        printf("%ld %.9g\\n", (long)nnmodel_output((uint16_t)i), (double)nnmodel_output_value((uint16_t)i));
    }
    return 0;
}
""")
    exe = tmp_path / "float"
    hostc.link_with_runtime(model, gen, exe, ["-O2", "-DNNMODEL_WITH_FLOAT"], [main])
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    values = np.array([[((r * 31 + i * 17) % 300 - 20) * 4.0 for i in range(28)] for r in range(28)])
    codes = realvalues.codes_from_values(model.input, values[None])
    logits = reference.run(model, codes)
    fixed, real = realvalues.outputs_fixed(model, logits)[0], realvalues.output_values(model, logits)[0]
    for k, line in enumerate(lines[:model.n_classes]):
        got_fixed, got_real = line.split()
        assert int(got_fixed) == fixed[k] and math.isclose(float(got_real), real[k], rel_tol=1e-6, abs_tol=1e-9)

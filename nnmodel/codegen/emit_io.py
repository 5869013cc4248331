"""The real-valued I/O part of a version-3 model's C API: physical meaning of inputs and outputs.

Printed into <name>.h and <name>.c by emit_c for models whose file is version 3 (a v1/v2 model's
code stays byte for byte what it was). Integer paths use lib/nnrt/include/nnrt/io.h with constants
from nnmodel.realvalues; the float helpers exist only when the firmware defines NNMODEL_WITH_FLOAT.
"""
from __future__ import annotations

import struct

from ..model import Model
from ..realvalues import FixedRatio, features, output_ratios, output_scales, output_steps

IO_RECORD = struct.Struct("<iBh")  # M, S, Z: NNRT_IO_RECORD of nnrt/io.h


def c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_float(value: float) -> str:
    """A float literal that reads back to the same float32 (9 significant digits)."""
    text = f"{value:.9g}"
    return text + ("f" if any(c in text for c in ".en") else ".0f")


def _list(items: list[str]) -> str:
    return "{" + ", ".join(items) + "}"


def _record(ratio: FixedRatio, offset: int) -> bytes:
    return IO_RECORD.pack(ratio.mult, ratio.shift, offset)


def _table(data: bytes) -> str:
    rows = [",".join(f"0x{b:02x}" for b in data[i:i + 14]) + "," for i in range(0, len(data), 14)]
    return "\n".join("    " + r for r in rows)


def decimals(steps: tuple[float, ...]) -> int | None:
    """d when every step is 10^-d (0..9), for printing fixed-point values without float; else None."""
    for d in range(10):
        if all(abs(s - 10.0**-d) <= 1e-12 * 10.0**-d for s in steps):
            return d
    return None


class IOEmitter:
    def __init__(self, model: Model, prefix: str):
        self.m, self.p, self.P = model, prefix, prefix.upper()
        self.spec = model.input
        self.feats = features(model.input)
        self.signed = model.input.dtype == "int8"

    @property
    def code_type(self) -> str:
        return "int8_t" if self.signed else "uint8_t"

    @property
    def feed_codes(self) -> str:
        """The function that feeds one row of uint8 network codes."""
        return f"{self.p}_feed_u8" if self.signed else f"{self.p}_feed_row"

    # --------------------------------------------------------------------------- header
    def header(self) -> str:
        P, spec, m = self.P, self.spec, self.m
        fs = self.feats
        per = "channel" if spec.kind == "image" else "feature"
        steps = output_steps(m)
        d = decimals(steps)
        what = "regression outputs" if m.is_regression else "class scores (logits)"
        lines = [
            f"/* Input: {spec.describe()}, fed as INPUT_ROWS rows of INPUT_COLS codes; {per} f of a row is",
            " * element i with f = i % INPUT_FEATURES. Its physical value is INPUT_SCALES[f] * (code -",
            " * INPUT_ZERO_POINTS[f]) in INPUT_UNITS[f]; raw firmware integers count INPUT_STEPS[f] of that unit. */",
            f'#define {P}_INPUT_KIND "{spec.kind}"',
            f'#define {P}_INPUT_DTYPE "{spec.dtype}"',
            f"#define {P}_INPUT_FEATURES {len(fs)}u",
            f"#define {P}_INPUT_NAMES {_list([c_string(f.name) for f in fs])}",
            f"#define {P}_INPUT_UNITS {_list([c_string(f.unit) for f in fs])}",
            f"#define {P}_INPUT_SCALES {_list([c_float(f.scale) for f in fs])}",
            f"#define {P}_INPUT_ZERO_POINTS {_list([str(f.zero_point) for f in fs])}",
            f"#define {P}_INPUT_STEPS {_list([c_float(f.step) for f in fs])}",
            f"/* Output: {m.n_classes} {what}. Output k's value is OUTPUT_SCALES[k] * (output -",
            " * OUTPUT_ZERO_POINTS[k]) in OUTPUT_UNITS[k]; <model>_output() gives it in OUTPUT_STEPS[k]. */",
            f'#define {P}_TASK "{m.output.task}"',
            f"#define {P}_NUM_OUTPUTS {m.n_classes}u",
            f"#define {P}_OUTPUT_NAMES {P}_LABELS",
            f"#define {P}_OUTPUT_UNITS {_list([c_string(u) for u in (m.output.units or ('',) * m.n_classes)])}",
            f"#define {P}_OUTPUT_SCALES {_list([c_float(float(s)) for s in output_scales(m)])}",
            f"#define {P}_OUTPUT_ZERO_POINTS {_list(['0'] * m.n_classes)}",
            f"#define {P}_OUTPUT_STEPS {_list([c_float(s) for s in steps])}",
        ]
        if d is not None:
            lines.append(f"#define {P}_OUTPUT_DECIMALS {d}u /* every OUTPUT_STEPS is 1e-{d}: print value / 10^{d} */")
        p, code = self.p, self.code_type
        decls = [
            "",
            "/* Raw integers in, integer-only: one row of INPUT_COLS readings, element i counting",
            " * INPUT_STEPS[i % INPUT_FEATURES] (an ADC count, 1/16 degree): quantized, then fed. Called",
            " * like feed_row, INPUT_ROWS times between begin and finish. */",
            f"void {p}_feed_raw(const int32_t *raw);",
            "/* Output k of the last finished inference as an integer count of OUTPUT_STEPS[k] (rounded,",
            " * saturated to the int32 range); 0 if k >= NUM_OUTPUTS. */",
            f"int32_t {p}_output(uint16_t k);",
            "",
            "#ifdef NNMODEL_WITH_FLOAT",
            "/* Float helpers, compiled only when the firmware defines NNMODEL_WITH_FLOAT: one row of",
            " * physical values in INPUT_UNITS (like feed_row, between begin and finish), quantized as",
            " * floor(x / scale + 0.5) + zero point; output k",
            " * in OUTPUT_UNITS[k]. The integer functions above are the ones proven bit-exact. */",
            f"void {p}_feed_values(const float *x);",
            f"float {p}_output_value(uint16_t k);",
            "#endif",
        ]
        if self.signed:
            decls[1:1] = [f"/* Codes are int8: {p}_feed_row and {p}_classify take {code}. */"]
        return "\n".join(lines + decls) + "\n"

    def aliases(self) -> list[str]:
        names = ["INPUT_KIND", "INPUT_DTYPE", "INPUT_FEATURES", "INPUT_NAMES", "INPUT_UNITS", "INPUT_SCALES",
                 "INPUT_ZERO_POINTS", "INPUT_STEPS", "TASK", "NUM_OUTPUTS", "OUTPUT_NAMES", "OUTPUT_UNITS",
                 "OUTPUT_SCALES", "OUTPUT_ZERO_POINTS", "OUTPUT_STEPS"]
        if decimals(output_steps(self.m)) is not None:
            names.append("OUTPUT_DECIMALS")
        lines = [f"#define NNMODEL_{n} {self.P}_{n}" for n in names]
        lines += [f"#define nnmodel_{f} {self.p}_{f}" for f in ("feed_raw", "output")]
        lines += ["#ifdef NNMODEL_WITH_FLOAT"]
        lines += [f"#define nnmodel_{f} {self.p}_{f}" for f in ("feed_values", "output_value")]
        lines += ["#endif"]
        return lines

    # --------------------------------------------------------------------------- source
    def tables(self) -> str:
        p, P = self.p, self.P
        shift = 128 if self.signed else 0  # the network reads an int8 code c as the uint8 code c + 128
        raw_ratios = [FixedRatio.of(f.step / f.scale) for f in self.feats]
        inputs = b"".join(_record(r, f.zero_point + shift) for r, f in zip(raw_ratios, self.feats))
        outputs = b"".join(_record(r, 0) for r in output_ratios(self.m))
        steps = ", ".join(f"{f.step:g}/{f.scale:.6g}" for f in self.feats)
        return f"""/* Unit conversions (nnrt/io.h records: M LE32, S, Z LE16). Inputs, codes per raw step: {steps}. */
static const uint8_t {p}_io_in[{len(inputs)}] NNRT_IO_CONST = {{
{_table(inputs)}
}};
static const uint8_t {p}_io_out[{len(outputs)}] NNRT_IO_CONST = {{
{_table(outputs)}
}};

#ifdef NNMODEL_WITH_FLOAT
static const float {p}_in_scale[{len(self.feats)}] = {_list([c_float(f.scale) for f in self.feats])};
static const float {p}_in_zero[{len(self.feats)}] = {_list([c_float(f.zero_point + shift) for f in self.feats])};
static const float {p}_out_scale[{P}_NUM_OUTPUTS] = {{{", ".join(c_float(float(s)) for s in output_scales(self.m))}}};
#endif
"""

    def functions(self) -> str:
        p, P, feed = self.p, self.P, self.feed_codes
        signed = ""
        if self.signed:
            signed = f"""
void {p}_feed_row(const int8_t *row)
{{
    uint8_t codes[{P}_INPUT_COLS];
    uint16_t i;
    for (i = 0; i < {P}_INPUT_COLS; i++) {{
        codes[i] = (uint8_t)(row[i] + 128);
    }}
    {feed}(codes);
}}
"""
        return f"""{signed}
void {p}_feed_raw(const int32_t *raw)
{{
    uint8_t codes[{P}_INPUT_COLS];
    nnrt_codes_from_raw(raw, codes, {P}_INPUT_COLS, {p}_io_in, {P}_INPUT_FEATURES);
    {feed}(codes);
}}

int32_t {p}_output(uint16_t k)
{{
    return k < {P}_NUM_OUTPUTS ? nnrt_output_fixed({p}_logit(k), {p}_io_out + (size_t)k * NNRT_IO_RECORD) : 0;
}}

#ifdef NNMODEL_WITH_FLOAT
void {p}_feed_values(const float *x)
{{
    uint8_t codes[{P}_INPUT_COLS];
    uint16_t i, f = 0;
    for (i = 0; i < {P}_INPUT_COLS; i++) {{
        float q = x[i] / {p}_in_scale[f] + {p}_in_zero[f] + 0.5f; /* floor by truncation once >= 0 */
        codes[i] = (uint8_t)(q < 0.0f ? 0 : (q >= 255.0f ? 255 : (int)q));
        if (++f == {P}_INPUT_FEATURES) {{
            f = 0;
        }}
    }}
    {feed}(codes);
}}

float {p}_output_value(uint16_t k)
{{
    return k < {P}_NUM_OUTPUTS ? (float){p}_logit(k) * {p}_out_scale[k] : 0.0f;
}}
#endif
"""

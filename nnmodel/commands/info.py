"""nnmodel info MODEL"""
from __future__ import annotations

import argparse

from .. import load, ops
from ..codegen import footprint
from ..codegen.image import HEADER_BYTES, MAX_PAYLOAD
from ..codegen.layout import lay_out
from ..model import Model
from ..plan import computed_macs, describe_stage, plan_buffers, plan_conv
from ..proof import prove_no_overflow
from ..realvalues import features, output_scales, output_steps


def _v3_lines(model: Model) -> list[str]:
    """The input's and outputs' physical meaning (version-3 models)."""
    spec = model.input
    lines = [f"model {model.name}: input {spec.describe()}, {spec.rows} row(s) of {spec.cols} per inference"]
    per = "channel" if spec.kind == "image" else "feature"
    for f in features(spec):
        unit = f" [{f.unit}]" if f.unit else ""
        lines.append(f"  {per} {f.name}{unit}: value = {f.scale:.6g} * (code - {f.zero_point}); raw integers count "
                     f"{f.step:g}")
    scales, steps = output_scales(model), output_steps(model)
    if model.is_regression:
        lines.append(f"output: regression, {model.n_classes} value(s)")
        for name, unit, scale, step in zip(model.labels, model.output.units, scales, steps):
            shown = f" [{unit}]" if unit else ""
            lines.append(f"  {name}{shown} = {scale:.6g} * output; integer form in steps of {step:g}")
    else:
        lines.append(f"output: {model.n_classes} classes ({', '.join(model.labels)}); a logit's real value is "
                     f"{float(scales[0]):.6g} * logit" + ("" if len(set(scales.tolist())) == 1 else " (per class)"))
    return lines


def describe(model: Model) -> list[str]:
    if model.input.is_v3 or model.output.is_v3:
        lines = _v3_lines(model)
    else:
        lines = [f"model {model.name}: input {model.input.rows}x{model.input.cols} uint8 fed by rows, "
                 f"{model.n_classes} classes ({', '.join(model.labels)})"]
    proofs = prove_no_overflow(model)
    for i, (layer, proof) in enumerate(zip(model.layers, proofs)):
        op = ops.op_of(layer)
        shape = op.summary(layer)
        if not op.has_weights:
            lines.append(f"  [{i}] {shape}")
            continue
        scales = op.scales_text(layer)
        lines.append(f"  [{i}] {shape:<18} {op.activation_text(layer):<9} {scales:<12} "
                     f"|acc| <= {proof.acc_bound} ({proof.headroom_bits:.1f} bits headroom)"
                     + (f", |acc*M| <= {proof.product_bound}" if proof.product_bound else ""))
    layout = lay_out(model)
    buffers = plan_buffers(model).ram_bytes
    computed = computed_macs(model)
    lines += [f"parameters: {model.parameter_count()}",
              f"MACs per inference: {model.macs()}"
              + (f" ({computed} computed: conv outputs no pool window reads are skipped)"
                 if computed != model.macs() else ""),
              f"payload: {len(layout.payload)} B (weights, biases, multipliers, tables); "
              f"hash 0x{layout.model_hash:08x}",
              "bytes per storage kind:"]
    for storage in ("ram", "flash", "progmem", "eeprom"):
        fp = footprint(model, layout, storage)
        note = "  (over the 64 KB image limit)" if fp.eeprom > MAX_PAYLOAD + HEADER_BYTES else ""
        lines.append(f"  {storage:<8} flash {fp.flash:>7}  SRAM {fp.sram:>7}  EEPROM {fp.eeprom:>6}{note}")
    lines.append(f"runtime RAM: {buffers} B of static buffers + one input row ({model.input.cols} B) in the caller")
    stages = plan_conv(model)
    if stages:
        buf = plan_buffers(model)
        lines.append(f"  conv line buffers {sum(buf.rings) + sum(buf.runs) + buf.out_row} B, "
                     f"accumulators {buf.acc_bytes} B, "
                     + (f"recurrent state {sum(buf.states)} B, " if buf.states else "")
                     + f"hidden outputs {sum(buf.ping)} B, row counter 2 B")
        lines += [f"  {describe_stage(st)}" for st in stages]
    acc = model.provenance.get("accuracy")
    if acc and isinstance(acc, dict):  # provenance is free-form JSON: show only what has the trainer's shape
        shown = {k: v for k, v in acc.items() if v is not None}  # val_* are None after a final fit
        # A final fit has no val_*; a split run on a folder without the test files only lacks test_int.
        final_fit = "val_int" in acc and acc["val_int"] is None
        note = " (no validation split: final fit on all training digits)" if final_fit else ""
        lines.append("accuracy at export: " + ", ".join(f"{k} {v:.2%}" if isinstance(v, float) else f"{k} {v}"
                                                        for k, v in shown.items()) + note)
    for key in ("rmse", "mae"):
        errors = model.provenance.get(key)
        if isinstance(errors, dict):
            lines.append(f"{key} at export: " + ", ".join(f"{k} {v}" for k, v in errors.items() if v is not None))
    if model.provenance.get("command"):
        lines.append(f"produced by: {model.provenance['command']}")
    return lines


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="layers, sizes, MACs and RAM of a model")
    p.add_argument("model")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print("\n".join(describe(load(args.model))))
    return 0

"""The planner: how a model streams through the generated C, the one place that sees two kinds at once.

A model is a front fed one input row per call, then a tail of vector layers run at the end:

- a sequence front (a stack of recurrent layers: rnn, gru, lstm): each layer steps once per row,
  its state kept in static buffers; the tail reads the top layer's last state. A map front may
  come before it (pools of the raw image): each of its output rows is then one step;
- a map front (conv2d with the max-pools after it fused, or pools of the raw image): stages with
  line buffers, each producing pooled rows that the first vector layer accumulates as they come;
- no front: the first vector layer accumulates the image's rows as they come.

The tail's hidden outputs alternate between two int8 buffers; all layers share one accumulator
array (int16 when the proof allows, see acc16). Each kind's Op lowers its own kernel calls; the
planner decides the buffers, which calls run in begin/feed_row/finish, and the stage functions.
codegen/emit_c.py prints the result.

Map-front streaming. A stage is one conv2d with the max-pools that follow it fused (consecutive
pools of sizes a, b are one pool of size a·b: floor(floor(h/a)/b) = floor(h/(a·b)) and a max of
maxes is the max), or, at the very start, pools of the raw image alone. Only what the next layer
reads is computed: from the last stage's full output backwards, a stage needs conv rows/cols
0..need_out·P-1 and so input rows/cols 0..need_out·P+k-2 (floor pooling drops the rest). Rows are
fed one at a time; each conv stage keeps a ring of its input rows (needed width only, HWC) and
picks the cheaper of

- window: a ring of k+P-1 rows; when a pooled row is due, each pooled output is the max over its
  P×P conv sums, computed then;
- running: a ring of k rows plus a running max (pooled width × channels, int16 when the proven
  |dot product| bound allows, else int32) updated after each conv row; the pooled row comes out
  after the P-th row of its group (for the last stage, written over the running max itself).

The first stage reads the caller's row as its newest row, so its ring holds one row fewer and the
row is copied in after use. The raw sums are pooled before bias and requantization: requant and
clamp are monotone non-decreasing (M > 0), so this equals the reference's pool after activation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import ops
from .errors import NNModelError
from .model import Model
from .ops import Conv2D, MaxPool2D
from .ops.weighted import Lowering
from .proof import prove_no_overflow
from .quant import INPUT_MAX

INT16_MAX = 32767
# Stack the conv kernels need beyond what a target's stack_reserve covers (that reserve was sized
# for the dense/RNN kernels): the ATtiny85 firmware peaks at 86 B of stack with the shipped RNN and
# at 137 B with the CNN (simavr high-water mark, kernels of nnrt/ops/conv2d.h, avr-gcc -Os).
CONV_STACK_BYTES = 48


# ------------------------------------------------------------------------------------ map front
@dataclass
class Stage:
    index: int
    conv: Conv2D | None  # None: pools of the raw image alone (only the first stage)
    layer: int  # model layer index of the conv (or of the first pool)
    pool: int  # fused pool size P (1: none)
    in_shape: tuple[int, int, int]  # full input map (h, w, c)
    need_in: tuple[int, int]  # input rows, cols read
    need_out: tuple[int, int]  # pooled output rows, cols produced
    signed_in: bool  # int8 input, else uint8 pixels
    strategy: str = "window"  # "window" | "running" | "pool"
    ring_rows: int = 0
    run_elem: int = 0  # bytes per running-max entry: 0, 2 or 4
    dot_bound: int = 0  # proven max |Σ w·x| of one output (no bias)
    nonneg_in: bool = True  # every input is >= 0 (pixels, a ReLU's 0..127): kernels may read them as uint8

    @property
    def caller_row(self) -> bool:
        """The first stage reads the caller's row as its newest input row."""
        return self.index == 0

    @property
    def kernel(self) -> int:
        return self.conv.kernel if self.conv is not None else 1

    @property
    def channels_in(self) -> int:
        return self.in_shape[2]

    @property
    def channels_out(self) -> int:
        return self.conv.out_channels if self.conv is not None else self.in_shape[2]

    @property
    def row_bytes(self) -> int:
        """One stored input row: needed columns × channels."""
        return self.need_in[1] * self.channels_in

    @property
    def out_row(self) -> int:
        """Elements of one pooled output row."""
        return self.need_out[1] * self.channels_out

    @property
    def ring_bytes(self) -> int:
        return self.ring_rows * self.row_bytes

    @property
    def run_bytes(self) -> int:
        return self.out_row * self.run_elem if self.strategy == "running" else 0


def _stages(model: Model) -> list[Stage]:
    stages: list[Stage] = []
    in_max, in_min = INPUT_MAX, 0
    for i, layer in enumerate(model.leading(ops.MAP)):
        if isinstance(layer, MaxPool2D):
            if stages:
                stages[-1].pool *= layer.size
            else:
                stages.append(Stage(0, None, i, layer.size, layer.in_shape, (0, 0), (0, 0), False, "pool"))
            continue
        assert isinstance(layer, Conv2D), f"no streaming plan for {layer.kind} in a map front"
        signed = bool(stages) and stages[-1].conv is not None
        st = Stage(len(stages), layer, i, 1, layer.in_shape, (0, 0), (0, 0), signed, nonneg_in=in_min >= 0)
        rows = np.abs(layer.w_q.astype(np.int64)).reshape(layer.out_channels, -1).sum(axis=1)
        st.dot_bound = int(rows.max()) * in_max
        stages.append(st)
        in_max, in_min = layer.activation.out_max_abs, layer.activation.out_min
    return stages


def plan_conv(model: Model) -> list[Stage]:
    """The stages of a map front with their extents and buffers (empty for other models)."""
    stages = _stages(model)
    if not stages:
        return []
    last = stages[-1]
    h, w, _ = last.in_shape
    k = last.kernel
    need = ((h - k + 1) // last.pool, (w - k + 1) // last.pool)  # the last stage's whole output
    for st in reversed(stages):
        st.need_out = need
        k = st.kernel
        st.need_in = (need[0] * st.pool + k - 1, need[1] * st.pool + k - 1)
        need = st.need_in
    for st in stages:
        if st.conv is None:
            continue
        p, k, own = st.pool, st.kernel, 0 if st.caller_row else 1
        last_extra = st.out_row if st is last else 0  # a window last stage needs a row for the dense layer
        window = (k + p - 2 + own) * st.row_bytes + last_extra
        elem = 2 if st.dot_bound <= INT16_MAX else 4
        running = (k - 1 + own) * st.row_bytes + st.out_row * elem
        if p > 1 and running < window:
            st.strategy, st.ring_rows, st.run_elem = "running", k - 1 + own, elem
        else:
            st.strategy, st.ring_rows = "window", k + p - 2 + own
    return stages


def out_row_buffer(stages: list[Stage]) -> int:
    """Bytes of the row the last stage hands to the first dense layer (0 when written in place)."""
    if not stages or stages[-1].strategy == "running":
        return 0
    return stages[-1].out_row


def describe_stage(st: Stage) -> str:
    """One line for the generated code and `nnmodel info`."""
    h, w, c = st.in_shape
    reads = (f"reads rows/cols {st.need_in[0]}x{st.need_in[1]}, gives {st.need_out[0]}x{st.need_out[1]}x"
             f"{st.channels_out}")
    if st.conv is None:
        return (f"stage {st.index}: maxpool {st.pool} of the {h}x{w} image, {reads}; "
                "the running max is kept in the destination row")
    pool = f" + maxpool {st.pool}" if st.pool > 1 else ""
    buffers = f"ring {st.ring_rows} x {st.row_bytes} B"
    if st.strategy == "running":
        buffers += f" + running max {st.out_row} x int{8 * st.run_elem}"
    return (f"stage {st.index}: conv {st.kernel}x{st.kernel} {c}->{st.channels_out}{pool} on {h}x{w}x{c}, {reads}; "
            f"{st.strategy}: {buffers}")


def computed_macs(model: Model) -> int:
    """Multiply-accumulates the runtime performs for one image: Model.macs() less the conv outputs
    no later layer reads."""
    skipped = 0
    for st in plan_conv(model):
        if st.conv is None:
            continue
        oh, ow, co = st.conv.out_shape
        used = st.need_out[0] * st.pool * st.need_out[1] * st.pool * co
        skipped += (oh * ow * co - used) * st.conv.taps
    return model.macs() - skipped


# ------------------------------------------------------------------------------------ buffers
@dataclass
class Buffers:
    """Static RAM of one model: sizes in elements (bytes for the conv line buffers)."""

    acc: int  # accumulators, shared by the dense and recurrent layers
    states: list[int]  # bytes of state per recurrent layer (kept across rows)
    ping: list[int]  # int8 outputs of hidden dense layers, alternating between two buffers
    row_counter: bool  # a dense-first or conv model counts rows
    rings: list[int] = field(default_factory=list)  # bytes of each conv stage's input-row ring
    runs: list[int] = field(default_factory=list)  # bytes of each conv stage's running max
    out_row: int = 0  # bytes of the conv front's last pooled row (0: written over the running max)
    acc_elem: int = 4  # bytes per accumulator: 4, or 2 when int16 is proven enough (acc16)

    @property
    def acc_bytes(self) -> int:
        return self.acc_elem * self.acc

    @property
    def ram_bytes(self) -> int:
        return (self.acc_bytes + sum(self.states) + sum(self.ping) + (2 if self.row_counter else 0)
                + sum(self.rings) + sum(self.runs) + self.out_row)


def plan_buffers(model: Model) -> Buffers:
    front = model.sequence_front()
    stages = plan_conv(model)
    n_front = len(model.leading(ops.MAP))
    ping = [0, 0]
    hidden = [layer for layer in model.layers[len(front) + n_front:] if layer.activation.requantizes]
    for k, layer in enumerate(hidden):
        ping[k % 2] = max(ping[k % 2], layer.outputs)
    states = [ops.op_of(layer).state_size(layer) for layer in front]
    return Buffers(max(ops.op_of(layer).accumulators(layer) for layer in model.layers[n_front:]), states,
                   [p for p in ping if p], not front or bool(stages), [st.ring_bytes for st in stages],
                   [st.run_bytes for st in stages], out_row_buffer(stages), 2 if acc16(model) else 4)


def acc16(model: Model) -> bool:
    """int16 accumulators: a conv front whose one dense layer (int4, the logits) has every partial sum
    proven within int16. Half the SRAM of the logits on the ATtiny85, where 20 bytes matter."""
    n_front = len(model.leading(ops.MAP))
    tail = model.layers[n_front:]
    if not n_front or len(tail) != 1 or getattr(tail[0], "weight_bits", 8) != 4:
        return False
    return prove_no_overflow(model)[n_front].acc_bound <= INT16_MAX


def stack_bytes(model: Model) -> int:
    """Stack beyond a target's stack_reserve: the conv kernels' frames."""
    return CONV_STACK_BYTES if model.leading(ops.MAP) else 0


# ------------------------------------------------------------------------------------ the program
@dataclass
class Program:
    """The generated model source, decided: emit_c prints it into its file frame."""

    buffers: Buffers
    headers: list[str]  # runtime headers, in include order
    statics: list[str]  # declarations after the weights: accumulators, states, rows, line buffers
    functions: list[str]  # helpers before begin(): the stage functions of a map front
    begin: list[str]
    feed: list[str]
    finish: list[str]


def _label(model: Model, i: int) -> str:
    layer = model.layers[i]
    return f"/* [{i}] {ops.op_of(layer).summary(layer)} */"


def lower(model: Model, layout: Any) -> Program:
    """The calls of begin/feed_row/finish and the buffers they use."""
    p, P = model.name, model.name.upper()
    buf = plan_buffers(model)
    lw = Lowering(p, buf.acc_elem)
    lays = layout.layers
    front = model.sequence_front()
    n_map = len(model.leading(ops.MAP))
    stages = plan_conv(model)
    state_decls = [ops.op_of(layer).state_decls(layer, f"{p}_h{k}") for k, layer in enumerate(front)]
    statics = [f"static int{8 * buf.acc_elem}_t {p}_acc[{buf.acc}];"]
    statics += [f"static {ctype} {name}[{n}];" for decls in state_decls for name, ctype, n, _ in decls]
    statics += [f"static int8_t {p}_x{k}[{n}];" for k, n in enumerate(buf.ping)]
    if buf.row_counter:
        statics.append(f"static uint16_t {p}_row;")
    functions: list[str] = []
    begin: list[str] = []
    feed: list[str] = []
    finish: list[str] = []
    if front:
        begin.append("uint16_t i;")
        for name, _, n, _ in (d for decls in state_decls for d in decls):
            begin.append(f"for (i = 0; i < {n}u; i++) {{ {name}[i] = 0; }}")
        x, signed = "row", False
        if stages:  # the map front's output rows are the steps
            begin.append(f"{p}_row = 0;")
            decls, functions = _map_front(model, layout, stages, lw)
            statics += decls
            lines, x, signed = _map_rows(model, stages)
            feed += lines
        for k, ll in enumerate(lays[n_map:n_map + len(front)]):
            if k:
                x, signed = f"{p}_h{k - 1}", True
            feed += [_label(model, n_map + k), *ops.op_of(front[k]).lower_step(ll, lw, x, signed, f"{p}_h{k}")]
        x, tail, ping = f"{p}_h{len(front) - 1}", n_map + len(front), 0
    else:
        n_front = len(model.leading(ops.MAP))
        first, first_op = lays[n_front], ops.op_of(model.layers[n_front])
        begin += [*first_op.lower_bias(first, lw), f"{p}_row = 0;"]
        if stages:
            for st in stages:
                if st.row_bytes > 0xFFFF:
                    raise NNModelError(f"{model.name}: layers[{st.layer}]: a row of {st.row_bytes} values is too wide "
                                       "for the runtime (at most 65535)")
            decls, functions = _map_front(model, layout, stages, lw)
            statics += decls
            feed += _map_feed(model, layout, stages, lw)
        else:
            feed += [f"if ({p}_row >= {P}_INPUT_ROWS) {{ return; }} /* extra rows are ignored */",
                     _label(model, n_front),
                     first_op.lower_stream_mac(first, lw, "row", False, f"(uint32_t){p}_row * {P}_INPUT_COLS",
                                               f"{P}_INPUT_COLS"),
                     f"{p}_row++;"]
        x, tail, ping = "", n_front + 1, 0
        if first.clamp is not None:
            finish.append(first_op.lower_requant(first, lw, lw.acc, f"{p}_x0"))
            x, ping = f"{p}_x0", 1
    for i in range(tail, len(model.layers)):
        ll, op = lays[i], ops.op_of(model.layers[i])
        finish += [_label(model, i), *op.lower_bias(ll, lw), op.lower_mac(ll, lw, x, True, "", f"{ll.n_in}u")]
        if ll.clamp is not None:
            dst = f"{p}_x{ping % 2}"
            finish.append(op.lower_requant(ll, lw, lw.acc, dst))
            x, ping = dst, ping + 1
    headers = ["nnrt/storage.h"]
    for layer in model.layers:
        headers += [h for h in ops.op_of(layer).c_headers if h not in headers]
    return Program(buf, headers, statics, functions, begin, feed, finish)


# ------------------------------------------------------------------------------------ map-front code
def _ring_row(p: str, st: Stage, row: str) -> str:
    """Pointer to input row `row` (a C expression) in stage st's ring, as const uint8_t *."""
    base = f"(const uint8_t *){p}_ring{st.index}"
    if st.ring_rows == 1:
        return base
    return f"{base} + (uint32_t)(({row}) % {st.ring_rows}u) * {st.row_bytes}u"


def _stage_dst(p: str, stages: list[Stage], st: Stage, q: str) -> str:
    """Where stage st writes its pooled output row q."""
    if st.index + 1 < len(stages):
        nxt = stages[st.index + 1]
        if nxt.ring_rows == 1:
            return f"{p}_ring{nxt.index}"
        return f"{p}_ring{nxt.index} + (uint32_t)({q} % {nxt.ring_rows}u) * {nxt.row_bytes}u"
    return f"(int8_t *){p}_run{st.index}" if st.strategy == "running" else f"{p}_xrow"


def _map_front(model: Model, layout: Any, stages: list[Stage], lw: Lowering) -> tuple[list[str], list[str]]:
    """(buffer declarations, stage functions): stage s takes input row r of its map; the first
    stage reads the caller's row, the others find row r in their ring, written by the stage before."""
    p = model.name
    decls = ["/* conv front, streamed row by row:"]
    decls += [f" * {describe_stage(st)}" for st in stages]
    decls[-1] += " */"
    for st in stages:
        if st.ring_rows:
            kind = "int8_t" if st.signed_in else "uint8_t"
            decls.append(f"static {kind} {p}_ring{st.index}[{st.ring_bytes}];")
        if st.strategy == "running":
            decls.append(f"static int{8 * st.run_elem}_t {p}_run{st.index}[{st.out_row}];")
    out_row = out_row_buffer(stages)
    if out_row:
        kind = "int8_t" if stages[-1].conv is not None else "uint8_t"
        decls.append(f"static {kind} {p}_xrow[{out_row}];")
    return decls, [_stage_function(model, layout, stages, st, lw) for st in reversed(stages)]


def _stage_function(model: Model, layout: Any, stages: list[Stage], st: Stage, lw: Lowering) -> str:
    """Stage st takes input row r; it returns q + 1 when that completes pooled output row q
    (written where _stage_dst says), else 0. Out of line, called one after another by feed_row,
    so no two stages' frames are on the stack at once."""
    p, s = model.name, st.index
    args = "uint16_t r, const uint8_t *row" if st.caller_row else "uint16_t r"
    head = f"NNRT_CONV_FN uint16_t {p}_s{s}({args})"
    body: list[str] = [_label(model, st.layer)]
    if st.conv is None:  # pools of the raw image: the destination row is the running max
        pool_layer = model.layers[st.layer]
        pool_op, n_q, pool = ops.op_of(pool_layer), st.need_out[1], st.pool
        if pool == 1:
            body += [pool_op.lower_image_pool(n_q, 1, _stage_dst(p, stages, st, "r")), "return (uint16_t)(r + 1u);"]
        else:
            body += [f"const uint16_t q = (uint16_t)(r / {pool}u);",
                     pool_op.lower_image_pool(n_q, pool, _stage_dst(p, stages, st, "q")),
                     f"return r % {pool}u == {pool - 1}u ? (uint16_t)(q + 1u) : 0u;"]
        return f"{head}\n{{\n" + "\n".join("    " + x for x in body) + "\n}\n"
    ll = layout.layers[st.layer]
    conv_op = ops.op_of(st.conv)
    k, pool, n_q = st.kernel, st.pool, st.need_out[1]
    params = conv_op.lower_params(ll, lw, st.signed_in and not st.nonneg_in, k, st.channels_in, st.channels_out,
                                  pool, n_q)
    window = st.strategy == "window"
    n_rows = k + pool - 1 if window else k
    if window:
        start = n_rows - 1
        conds = (([f"r >= {start}u"] if start else [])
                 + ([f"(uint16_t)(r - {start}u) % {pool}u == 0u"] if pool > 1 else []))
        q_expr = f"(uint16_t)(r - {start}u)" if start else "r"
        index = [f"const uint16_t q = (uint16_t)({q_expr} / {pool}u);" if pool > 1 else f"const uint16_t q = {q_expr};"]
        first = f"q * {pool}u" if pool > 1 else "q"
    else:
        conds = [f"r >= {k - 1}u"] if k > 1 else []
        index = [f"const uint16_t y = (uint16_t)(r - {k - 1}u);" if k > 1 else "const uint16_t y = r;"]
        first = "y"
    in_ring = n_rows - 1 if st.caller_row else n_rows
    inner = [*params, f"const uint8_t *rows[{n_rows}];", *index]
    if in_ring:
        inner += ["uint16_t i;", f"for (i = 0; i < {in_ring}u; i++) {{",
                  f"    rows[i] = {_ring_row(p, st, first + ' + i')};", "}"]
    if st.caller_row:
        inner.append(f"rows[{n_rows - 1}] = row;")
    if window:
        inner += [conv_op.lower_window(_stage_dst(p, stages, st, "q")), "res = (uint16_t)(q + 1u);"]
    else:
        wide = st.run_elem == 4
        inner += [conv_op.lower_run(f"{p}_run{s}", wide, f"(uint8_t)(y % {pool}u == 0u)"),
                  f"if (y % {pool}u == {pool - 1}u) {{", f"    const uint16_t q = (uint16_t)(y / {pool}u);",
                  "    " + conv_op.lower_out(f"{p}_run{s}", wide, n_q, st.channels_out, _stage_dst(p, stages, st, "q")),
                  "    res = (uint16_t)(q + 1u);", "}"]
    body.append("uint16_t res = 0;")
    if conds:
        body += [f"if ({' && '.join(conds)}) {{", *("    " + x for x in inner), "}"]
    else:
        body += ["{", *("    " + x for x in inner), "}"]
    if st.caller_row and st.ring_rows:  # the caller's row joins the ring after use
        dst = f"{p}_ring{s}" + (f" + (uint32_t)(r % {st.ring_rows}u) * {st.row_bytes}u" if st.ring_rows > 1 else "")
        body += ["{", f"    uint8_t *dst = {dst};", "    uint16_t i;",
                 f"    for (i = 0; i < {st.row_bytes}u; i++) {{", "        dst[i] = row[i];", "    }", "}"]
    body.append("return res;")
    return f"{head}\n{{\n" + "\n".join("    " + x for x in body) + "\n}\n"


def _map_rows(model: Model, stages: list[Stage], as_uint8: bool = False) -> tuple[list[str], str, bool]:
    """(lines, row, signed): feed_row's stages one after another, returning early unless the last
    one completed its output row q - 1, which `row` then points at (int8 after a conv, else uint8)."""
    p = model.name
    last = stages[-1]
    signed = last.conv is not None
    x = f"{p}_xrow"
    if last.strategy == "running":
        x = f"(const {'uint8_t' if as_uint8 or not signed else 'int8_t'} *){p}_run{last.index}"
    lines = ["uint16_t q;", f"if ({p}_row >= {stages[0].need_in[0]}u) {{ return; }} "
             "/* rows past the needed ones are ignored */",
             f"q = {p}_s0({p}_row, row);", f"{p}_row++;"]
    for st in stages[1:]:
        lines += ["if (q == 0u) { return; }", f"q = {p}_s{st.index}((uint16_t)(q - 1u));"]
    return [*lines, "if (q == 0u) { return; }"], x, signed


def _map_feed(model: Model, layout: Any, stages: list[Stage], lw: Lowering) -> list[str]:
    """feed_row of a map-front model: the stages one after another, then the first dense layer."""
    last = stages[-1]
    n_front = len(model.leading(ops.MAP))
    dense, dense_op = layout.layers[n_front], ops.op_of(model.layers[n_front])
    lines, x, _ = _map_rows(model, stages, dense.weight_bits == 4)
    lines += [_label(model, n_front),
              dense_op.lower_stream_mac(dense, lw, x, last.conv is not None, f"(uint32_t)(q - 1u) * {last.out_row}u",
                                        f"{last.out_row}u",
                                        last.conv is not None and last.conv.activation.out_min >= 0)]
    return lines

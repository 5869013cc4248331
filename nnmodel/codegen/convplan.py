"""How the generated code streams a conv front: stages, needed extents and line buffers.

A stage is one conv2d with the max-pools that follow it fused (consecutive pools of sizes a, b are
one pool of size a·b: floor(floor(h/a)/b) = floor(h/(a·b)) and a max of maxes is the max), or, at
the very start, pools of the raw image alone. Only what the next layer reads is computed: from the
last stage's full output backwards, a stage needs conv rows/cols 0..need_out·P-1 and so input
rows/cols 0..need_out·P+k-2 (floor pooling drops the rest). Rows are fed one at a time; each conv
stage keeps a ring of its input rows (needed width only, HWC) and picks the cheaper of

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

from dataclasses import dataclass

import numpy as np

from ..model import Conv2D, MaxPool2D, Model
from ..quant import INPUT_MAX

INT16_MAX = 32767


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
    for i, layer in enumerate(model.conv_front):
        if isinstance(layer, MaxPool2D):
            if stages:
                stages[-1].pool *= layer.size
            else:
                stages.append(Stage(0, None, i, layer.size, tuple(layer.in_shape), (0, 0), (0, 0), False, "pool"))
            continue
        signed = bool(stages) and stages[-1].conv is not None
        st = Stage(len(stages), layer, i, 1, tuple(layer.in_shape), (0, 0), (0, 0), signed, nonneg_in=in_min >= 0)
        rows = np.abs(layer.w_q.astype(np.int64)).reshape(layer.out_channels, -1).sum(axis=1)
        st.dot_bound = int(rows.max()) * in_max
        stages.append(st)
        in_max, in_min = layer.activation.out_max_abs, layer.activation.out_min
    return stages


def plan_conv(model: Model) -> list[Stage]:
    """The stages of a conv front with their extents and buffers (empty for other models)."""
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
    stages = plan_conv(model)
    skipped = 0
    for st in stages:
        if st.conv is None:
            continue
        oh, ow, co = st.conv.out_shape
        used = st.need_out[0] * st.pool * st.need_out[1] * st.pool * co
        skipped += (oh * ow * co - used) * st.conv.taps
    return model.macs() - skipped

"""Integer gate arithmetic of the gated recurrences (gru, lstm), written once: the C runtime
(lib/nnrt/include/nnrt/ops/gates.h) computes exactly this, and the QAT trainer runs it forward.

One 128-byte table serves both nonlinearities. T[u] = min(254, round(256·tanh(u/32))), u = 0..127,
sits in flash/PROGMEM in the runtime: it is the same for every model, so it costs no model bytes.
A pre-activation p is an int8 code clamped to -127..127 (the requantization's clamp):

    tanh_q7(p) = sgn(p)·((T[|p|] + 1) >> 1)       in -127..127, value/128 ≈ tanh(p/32)
    sigm_q7(p) = 64 + sgn(p)·((T[|p|] + 2) >> 2)  in 0..128,    value/128 ≈ σ(p/16) = (1 + tanh(p/32))/2

so a sigmoid gate's pre-activation has scale 1/16 and a tanh's 1/32: the same table index. Gates
and states are Q7 (value/128): a gate of 128 is exactly 1, so z = 1 keeps the state bit for bit.
Products of a Q7 gate with a value round half up: qmul(g, a) = (g·a + 64) >> 7 (arithmetic shift).
docs/recurrent.md is the prose version, with the GRU and LSTM steps.
"""
from __future__ import annotations

import numpy as np

TABLE_SIZE = 128
PRE_MAX = 127  # pre-activations are clamped to -127..127
SIGMOID_PRE_SCALE = 1.0 / 16.0
TANH_PRE_SCALE = 1.0 / 32.0
Q7 = 1.0 / 128.0  # real value of one step of a gate, a GRU/LSTM state h, a tanh output
CELL_SCALE = 1.0 / 4096.0  # LSTM cell state c: int16, Q12 (±8.0)
CELL_MAX = 32767


def tanh_table() -> np.ndarray:
    """uint8[128]: T[u] = min(254, round(256·tanh(u/32)))."""
    u = np.arange(TABLE_SIZE, dtype=np.float64)
    return np.minimum(254, np.floor(256.0 * np.tanh(u * TANH_PRE_SCALE) + 0.5)).astype(np.uint8)


_T = tanh_table().astype(np.int64)


def clamp_pre(p: np.ndarray) -> np.ndarray:
    return np.clip(p, -PRE_MAX, PRE_MAX).astype(np.int64)


def tanh_q7(p: np.ndarray) -> np.ndarray:
    """int64 -127..127 for clamped pre-activations p (scale 1/32)."""
    p = np.asarray(p, np.int64)
    return np.sign(p) * ((_T[np.abs(p)] + 1) >> 1)


def sigm_q7(p: np.ndarray) -> np.ndarray:
    """int64 0..128 for clamped pre-activations p (scale 1/16)."""
    p = np.asarray(p, np.int64)
    return 64 + np.sign(p) * ((_T[np.abs(p)] + 2) >> 2)


def qmul(g: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(g·a + 64) >> 7: a Q7 gate (0..128) times an integer, rounded half up."""
    return (np.asarray(g, np.int64) * np.asarray(a, np.int64) + 64) >> 7


def gru_update(z: np.ndarray, h: np.ndarray, n: np.ndarray) -> np.ndarray:
    """h' = n + qmul(z, h - n): (1 - z)·n + z·h in Q7; stays in -127..127 (a rounded convex mix)."""
    return np.asarray(n, np.int64) + qmul(z, np.asarray(h, np.int64) - n)


def lstm_cell(f: np.ndarray, i: np.ndarray, g: np.ndarray, c: np.ndarray) -> np.ndarray:
    """c' = clamp(qmul(f, c) + ((i·g + 2) >> 2), ±32767): f·c + i·g with c in Q12 (i·g is Q14)."""
    i_g = (np.asarray(i, np.int64) * np.asarray(g, np.int64) + 2) >> 2
    return np.clip(qmul(f, c) + i_g, -CELL_MAX, CELL_MAX)


def cell_pre(c: np.ndarray) -> np.ndarray:
    """The tanh table's index for a Q12 cell: c/4096 at scale 1/32 is c/128, rounded, clamped."""
    return clamp_pre((np.asarray(c, np.int64) + 64) >> 7)


def lstm_output(o: np.ndarray, c: np.ndarray) -> np.ndarray:
    """h' = qmul(o, tanh_q7(cell_pre(c'))) in -127..127."""
    return qmul(o, tanh_q7(cell_pre(c)))

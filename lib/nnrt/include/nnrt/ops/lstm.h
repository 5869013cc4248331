/* nnrt lstm: one step of the integer LSTM (gates i, f, g, o; docs/recurrent.md, nnmodel/ops/lstm.py).
 *
 * The generated step loads acc[0..4U) = b + w_x x + w_h h with the dense kernels, then calls
 * nnrt_lstm_step:
 *
 *   i, f, o = sigm_q7(requant(.)), g = tanh_q7(requant(.))     bytes over acc, in place
 *   c_j = clamp(qmul(f_j, c_j) + ((i_j g_j + 2) >> 2), -32767, 32767)       int16, Q12
 *   h_j = qmul(o_j, tanh_q7(clamp((c_j + 64) >> 7, -127, 127)))              int8, Q7
 *
 * Byte i of acc lies in acc[i / 4]: the requantized gates overwrite only rows already read.
 */
#ifndef NNRT_OPS_LSTM_H
#define NNRT_OPS_LSTM_H

#include "nnrt/ops/gates.h"

typedef struct {
    nnrt_wptr_t mult;  /* LE16 [4] (per gate) or [4U] (per_channel: per gate row) */
    nnrt_wptr_t shift; /* uint8, same count as mult */
    uint16_t units;
    uint8_t per_channel;
} nnrt_lstm_t;

/* The cell and state update of units j < n from the gates' pre-activations pre[k n + j], k = i, f,
 * g, o. qmul(f, c) splits c = 128 (c >> 7) + (c & 127) as nnrt_qmul_s32 does, in 16 bits: f (c >> 7)
 * lies in -32768..32640 and the low part adds 0..127. */
NNRT_GATE_FN void nnrt_lstm_cells(const int8_t *pre, int8_t *h, int16_t *c, uint16_t n)
{
    uint16_t j;
    for (j = 0; j < n; j++) {
        const uint8_t ig = nnrt_sigm_q7(pre[j]), fg = nnrt_sigm_q7(pre[n + j]), og = nnrt_sigm_q7(pre[3u * n + j]);
        const int8_t gg = nnrt_tanh_q7(pre[2u * n + j]);
        const int16_t cj = c[j];
        int32_t v = (int32_t)(fg & 128u ? cj
                                        : (int16_t)(nnrt_gmul_s16(fg, (int16_t)nnrt_gate_shr((int32_t)cj, 7u))
                                                    + (int16_t)(((uint16_t)nnrt_gmul_s16(fg, (int16_t)(cj & 127)) + 64u) >> 7)));
        int16_t cn, t;
        v += nnrt_gate_shr((int32_t)nnrt_gmul_s16(ig, gg) + 2, 2u);
        cn = (int16_t)(v < -32767 ? -32767 : v > 32767 ? 32767 : v);
        c[j] = cn;
        t = (int16_t)nnrt_gate_shr((int32_t)cn + 64, 7u);
        t = (int16_t)(t < -127 ? -127 : t > 127 ? 127 : t);
        h[j] = (int8_t)nnrt_qmul_s16(og, nnrt_tanh_q7((int8_t)t));
    }
}

/* One LSTM step over acc (see above): updates c (int16, Q12) and h (int8, Q7). acc is clobbered. */
NNRT_INLINE void nnrt_lstm_step(int32_t *acc, int8_t *h, int16_t *c, const nnrt_lstm_t *p)
{
    nnrt_gates_requant(acc, (int8_t *)acc, p->units, 4u, p->mult, p->shift, p->per_channel);
    nnrt_lstm_cells((const int8_t *)acc, h, c, p->units);
}

#endif /* NNRT_OPS_LSTM_H */

/* nnrt gru: one step of the integer GRU (gates r, z, n; docs/recurrent.md, nnmodel/ops/gru.py).
 *
 * The generated step loads acc[0..2U) = b_x + w_x x + w_h[0..2U) h (the r and z rows) and
 * acc[2U..3U) = b_x + w_x x (the n rows) with the dense kernels, then calls nnrt_gru_step, which
 *
 *   r, z = sigm_q7(requant(acc[0..2U)))            stored as bytes over acc (consumed rows)
 *   reset_after:  acc[2U + j] += qmul(r_j, b_h_j + w_h[2U + j] h)   (the products into acc[U..2U))
 *   otherwise:    acc[2U + j] += w_h[2U + j] (qmul(r, h))          (qmul(r, h) in tmp)
 *   n = tanh_q7(requant(acc[2U..3U)))
 *   h_j = n_j + qmul(z_j, h_j - n_j)                 in place: every product has read the old h
 *
 * Byte i of acc lies in acc[i / 4], so a byte written for row i never overwrites a row still to
 * be read (i / 4 <= i), and the gates need no buffer of their own: the step's only scratch is acc
 * (3U int32) and, without reset_after, tmp (U bytes).
 */
#ifndef NNRT_OPS_GRU_H
#define NNRT_OPS_GRU_H

#include "nnrt/ops/gates.h"

typedef struct {
    nnrt_wptr_t w_h;      /* int8 [3U][U] recurrent weights, rows r, z, n */
    nnrt_wptr_t b_h;      /* [U] b_hn, bias_width bytes LE each; read only when reset_after */
    nnrt_wptr_t mult;     /* LE16 [3] (per gate) or [3U] (per_channel: per gate row) */
    nnrt_wptr_t shift;    /* uint8, same count as mult */
    uint16_t units;
    uint8_t bias_width;
    uint8_t per_channel;
    uint8_t reset_after;
} nnrt_gru_t;

/* g[j] = sigm_q7(g[j]) for j < n: a pre-activation byte becomes a gate 0..128 in place. */
NNRT_GATE_FN void nnrt_gates_sigm(uint8_t *g, uint16_t n)
{
    for (; n != 0u; n--, g++) {
        *g = nnrt_sigm_q7((int8_t)*g);
    }
}

/* acc[j] += qmul(r[j], d[j]) for j < n: the reset gate applied to b_hn + w_hn h. */
NNRT_GATE_FN void nnrt_gru_reset_after(int32_t *acc, const int32_t *d, const uint8_t *r, uint16_t n)
{
    for (; n != 0u; n--) {
        *acc++ += nnrt_qmul_s32(*r++, *d++);
    }
}

/* rh[i] = qmul(r[i], h[i]) for i < n: the reset gate applied to the state (not reset_after). */
NNRT_GATE_FN void nnrt_gru_reset_state(int8_t *rh, const uint8_t *r, const int8_t *h, uint16_t n)
{
    for (; n != 0u; n--) {
        *rh++ = (int8_t)nnrt_qmul_s16(*r++, *h++);
    }
}

/* h[j] = n_j + qmul(z[j], h[j] - n_j), n_j = tanh_q7(pre[j]), for j < units. */
NNRT_GATE_FN void nnrt_gru_update(int8_t *h, const uint8_t *z, const int8_t *pre, uint16_t units)
{
    for (; units != 0u; units--, h++) {
        const int8_t n = nnrt_tanh_q7(*pre++);
        *h = (int8_t)(n + nnrt_qmul_s16(*z++, (int16_t)(*h - n)));
    }
}

/* One GRU step over acc (see above); overwrites h with h'. tmp: U bytes when !reset_after, else
 * unused (NULL). acc is clobbered. */
NNRT_INLINE void nnrt_gru_step(int32_t *acc, int8_t *h, int8_t *tmp, const nnrt_gru_t *p)
{
    const uint16_t u = p->units;
    const uint32_t pair = p->per_channel ? u : 1u; /* (M, S) pairs per gate */
    uint8_t *const g = (uint8_t *)acc;             /* r at g[0..U), z at g[U..2U) */
    int32_t *const n_acc = acc + 2u * (uint32_t)u;
    const nnrt_wptr_t w_n = p->w_h + 2u * (uint32_t)u * u;
    nnrt_gates_requant(acc, (int8_t *)g, u, 2u, p->mult, p->shift, p->per_channel);
    nnrt_gates_sigm(g, (uint16_t)(2u * u));
    if (p->reset_after) {
        /* acc[U..2U) (bytes 4U..8U) is free once the gates are bytes 0..2U */
        nnrt_bias_s32(acc + u, p->b_h, u, p->bias_width);
        nnrt_mac_s8(acc + u, w_n, u, u, h, u);
        nnrt_gru_reset_after(n_acc, acc + u, g, u);
    } else {
        nnrt_gru_reset_state(tmp, g, h, u);
        nnrt_mac_s8(n_acc, w_n, u, u, tmp, u);
    }
    nnrt_gates_requant(n_acc, (int8_t *)n_acc, u, 1u, p->mult + 4u * pair, p->shift + 2u * pair, p->per_channel);
    nnrt_gru_update(h, g + u, (const int8_t *)n_acc, u);
}

#endif /* NNRT_OPS_GRU_H */

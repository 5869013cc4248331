/* nnrt activation: requantization of int32 accumulators to int8, the clamp, and the optional
 * 256-entry table. Used by every kind that requantizes (dense, rnn, conv2d).
 *
 *   pre = (acc * M + 2^(S-1)) >> S         round half up, floor shift; no rounding term if S = 0
 *   y   = clamp(pre, lo, hi)               then y = lut[y + 128] for a table activation
 *
 * The compiler's overflow proof guarantees |acc * M| + 2^(S-1) <= INT32_MAX for every output.
 * Specification: nnmodel/quant.py, nnmodel/ops/activation.py, docs/quantization.md.
 */
#ifndef NNRT_OPS_ACTIVATION_H
#define NNRT_OPS_ACTIVATION_H

#include "nnrt/storage.h"

/* One layer's requantization and activation. */
typedef struct {
    nnrt_wptr_t mult;    /* multipliers M, LE16: one per output if per_channel, else one */
    nnrt_wptr_t shift;   /* shifts S, one byte each, as mult */
    uint8_t per_channel; /* 1: an (M, S) pair per output */
    int8_t lo;           /* clamp range after requantization */
    int8_t hi;
    nnrt_wptr_t lut;     /* NULL, or an int8[256] table: y = lut[y + 128] */
} nnrt_act_params_t;

#if !defined(__AVR__) /* ---- portable C: the reference the AVR variant is proven equal to ---- */
/* floor(v / 2^s) without relying on >> of a negative value (implementation-defined in C99). */
static inline int32_t nnrt_floor_shift(int32_t v, uint8_t s)
{
    return v >= 0 ? (int32_t)((uint32_t)v >> s) : (int32_t) ~(~(uint32_t)v >> s);
}

/* y[j] = act(requant(acc[j])). Multipliers (LE16) and shifts (1 byte) are per channel when
 * per_channel is set, else one pair for all. lut == NULL means no table. */
static inline void nnrt_requant_s8_c(const int32_t *acc, int8_t *y, uint16_t n, nnrt_wptr_t mult,
                                     nnrt_wptr_t shift, uint8_t per_channel, int8_t lo, int8_t hi,
                                     nnrt_wptr_t lut)
{
    unsigned j;
    int32_t m = nnrt_rd_le(mult, 2);
    uint8_t s = NNRT_RD(shift);
    for (j = 0; j < n; j++) {
        int32_t v;
        if (per_channel) {
            m = nnrt_rd_le(mult + 2u * j, 2);
            s = NNRT_RD(shift + j);
        }
        v = acc[j] * m; /* proven: |acc * M| + 2^(S-1) <= INT32_MAX */
        if (s) {
            v = nnrt_floor_shift(v + ((int32_t)1 << (s - 1u)), s);
        }
        v = v < lo ? lo : v > hi ? hi : v;
        y[j] = lut ? (int8_t)NNRT_RD(lut + (uint8_t)(v + 128)) : (int8_t)v;
    }
}


/* act(requant(v)) of one value with (M, S) at mp, sp and no table (the conv outputs). */
NNRT_INLINE int8_t nnrt_requant1_c(int32_t v, nnrt_wptr_t mp, nnrt_wptr_t sp, int8_t lo, int8_t hi)
{
    const int32_t m = (int32_t)((uint16_t)NNRT_RD(mp) | (uint16_t)NNRT_RD(mp + 1) << 8);
    const uint8_t s = NNRT_RD(sp);
    v *= m; /* proven: |acc * M| + 2^(S-1) <= INT32_MAX */
    if (s) { /* floor((v + 2^(S-1)) / 2^S) without >> of a negative value */
        v += (int32_t)1 << (s - 1u);
        v = v >= 0 ? (int32_t)((uint32_t)v >> s) : (int32_t) ~(~(uint32_t)v >> s);
    }
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}
#define NNRT_REQUANT_S8 nnrt_requant_s8_c
#define nnrt_requant1 nnrt_requant1_c

#else /* ---- AVR: no hardware multiplier ---- */
#include "nnrt/arch/avr/activation.h"
#define NNRT_REQUANT_S8 nnrt_requant_s8_avr
#define nnrt_requant1 nnrt_requant1_avr
#endif

/* y[j] = act(requant(acc[j])) for j < n. */
NNRT_INLINE void nnrt_requant_s8(const int32_t *acc, int8_t *y, uint16_t n, const nnrt_act_params_t *a)
{
    NNRT_REQUANT_S8(acc, y, n, a->mult, a->shift, a->per_channel, a->lo, a->hi, a->lut);
}

#endif /* NNRT_OPS_ACTIVATION_H */

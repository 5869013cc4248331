/* nnrt gates: the integer sigmoid and tanh of the gated recurrences (gru.h, lstm.h), their Q7
 * products and the gate rows' requantization.
 *
 *   T[u] = min(254, round(256 tanh(u/32)))           u = 0..127, nnrt_tanh_table (src/nnrt.c)
 *   tanh_q7(p) = sgn(p) ((T[|p|] + 1) >> 1)          -127..127
 *   sigm_q7(p) = 64 + sgn(p) ((T[|p|] + 2) >> 2)     0..128 (128 is exactly 1)
 *   qmul(g, a) = (g a + 64) >> 7                     a Q7 gate 0..128 times an integer, floor shift
 *   pre = clamp((acc M + 2^(S-1)) >> S, -127, 127)   one (M, S) per gate, or per gate row
 *
 * The table is in program memory on AVR and ESP8266 whatever the model's NNRT_STORAGE, so it is
 * read with its own macro (NNRT_TANH_RD), never NNRT_RD. On AVR nothing here multiplies: the
 * ATtiny85 has no MUL, so products are shift-and-add over the gate's 7 bits or the multiplier's 16.
 * Specification: docs/recurrent.md, nnmodel/ops/gates.py.
 */
#ifndef NNRT_OPS_GATES_H
#define NNRT_OPS_GATES_H

#include "nnrt/ops/activation.h"
#include "nnrt/ops/dense.h"

#if defined(__AVR__) || defined(ESP8266) || defined(ARDUINO_ARCH_ESP8266)
#if defined(__AVR__)
#include <avr/pgmspace.h>
#else
#include <pgmspace.h>
#endif
#define NNRT_TANH_RD(u) pgm_read_byte(nnrt_tanh_table + (u))
#else
#define NNRT_TANH_RD(u) (nnrt_tanh_table[(u)])
#endif

/* The gate loops: out of line on AVR (one copy, a shallow stack), inlined elsewhere. */
#if defined(__AVR__)
#define NNRT_GATE_FN NNRT_FN
#else
#define NNRT_GATE_FN NNRT_INLINE
#endif

/* T[|p|] for a pre-activation p; -128 (never produced: the requantization clamps to -127) reads
 * as -127 rather than past the table. */
NNRT_INLINE uint8_t nnrt_tanh_mag(int8_t p)
{
    uint8_t u = (uint8_t)(p < 0 ? -p : p);
    return (uint8_t)NNRT_TANH_RD(u > 127u ? 127u : u);
}

/* 128 tanh(p/32), -127..127 */
NNRT_INLINE int8_t nnrt_tanh_q7(int8_t p)
{
    const uint8_t t = (uint8_t)(((unsigned)nnrt_tanh_mag(p) + 1u) >> 1);
    return (int8_t)(p < 0 ? -(int8_t)t : (int8_t)t);
}

/* 128 sigmoid(p/16), 0..128 */
NNRT_INLINE uint8_t nnrt_sigm_q7(int8_t p)
{
    const uint8_t t = (uint8_t)(((unsigned)nnrt_tanh_mag(p) + 2u) >> 2);
    return (uint8_t)(p < 0 ? 64u - t : 64u + t);
}

#if !defined(__AVR__) /* ---- portable C: the multiplications as written ---- */
/* g a for a gate g (0..128) and |g a| < 2^15 */
NNRT_INLINE int16_t nnrt_gmul_s16(uint8_t g, int16_t a)
{
    return (int16_t)((int16_t)g * a);
}

/* g a for a gate g (0..127, not 128) and |a| < 2^24 */
NNRT_INLINE int32_t nnrt_gmul_s32(uint8_t g, int32_t a)
{
    return (int32_t)g * a;
}

#define nnrt_gate_shr(v, s) nnrt_floor_shift((v), (s))

#else /* ---- AVR: shift-and-add over the gate's bits, no __mulhi3 / __mulsi3 ---- */
/* The sums run in unsigned arithmetic (wrapping, no undefined behaviour); the true product fits,
 * so the conversion back gives it (GCC converts modulo 2^N). */
NNRT_INLINE int16_t nnrt_gmul_s16(uint8_t g, int16_t a)
{
    uint16_t ua = (uint16_t)a, p = 0;
    for (; g != 0u; g >>= 1, ua = (uint16_t)(ua << 1)) {
        if (g & 1u) {
            p = (uint16_t)(p + ua);
        }
    }
    return (int16_t)p;
}

NNRT_INLINE int32_t nnrt_gmul_s32(uint8_t g, int32_t a)
{
    uint32_t ua = (uint32_t)a, p = 0;
    for (; g != 0u; g >>= 1, ua <<= 1) {
        if (g & 1u) {
            p += ua;
        }
    }
    return (int32_t)p;
}

#define nnrt_gate_shr(v, s) ((v) >> (s)) /* GCC's >> of a negative value is a floor shift */
#endif

/* qmul(g, a) for |a| <= 255 (a state, a tanh output, a difference of two): g a + 64 fits int16. */
NNRT_INLINE int16_t nnrt_qmul_s16(uint8_t g, int16_t a)
{
    return (int16_t)nnrt_gate_shr((int32_t)(int16_t)(nnrt_gmul_s16(g, a) + 64), 7u);
}

/* qmul(g, a) for any int32 a whose result fits int32 (|qmul(g, a)| <= |a| + 1): with a = 128 ah + al,
 * al = a & 127 >= 0, g a + 64 = 128 g ah + (g al + 64), so the result is g ah + ((g al + 64) >> 7).
 * g = 128 gives a itself. Neither part leaves int32, however large g a is. */
NNRT_INLINE int32_t nnrt_qmul_s32(uint8_t g, int32_t a)
{
    if (g & 128u) {
        return a;
    }
    return nnrt_gmul_s32(g, nnrt_gate_shr(a, 7u)) + (int32_t)(((uint16_t)nnrt_gmul_s16(g, (int16_t)(a & 127)) + 64u) >> 7);
}

#if !defined(__AVR__)
/* y[k U + j] = clamp(requant(acc[k U + j]), -127, 127) for k < blocks, j < units: (M, S) of block k
 * (per tensor) or of row k U + j (per channel). y may be acc's own bytes (y[i] is written after
 * acc[i] is read, and byte i lies in acc[i / 4]). */
NNRT_INLINE void nnrt_gates_requant(const int32_t *acc, int8_t *y, uint16_t units, uint8_t blocks,
                                    nnrt_wptr_t mult, nnrt_wptr_t shift, uint8_t per_channel)
{
    const uint16_t step = per_channel ? units : 1u;
    uint8_t k;
    for (k = 0; k < blocks; k++) {
        nnrt_requant_s8_c(acc + (uint32_t)k * units, y + (uint32_t)k * units, units, mult + 2u * (uint32_t)k * step,
                          shift + (uint32_t)k * step, per_channel, -127, 127, NULL);
    }
}

#else
/* clamp(requant(v, M, S), -127, 127) of one value without a multiplier: |v| M by a shift-add over
 * M's bits (|v M| < 2^31 is proven), then the floor shift. The shifts S <= 16 that the asm loop of
 * nnrt/arch/avr/activation.h does not take. */
NNRT_FN int8_t nnrt_avr_gate_requant1(int32_t v, uint16_t m, uint8_t s)
{
    uint32_t a = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v, p = 0;
    int32_t q;
    for (; m != 0u; m >>= 1, a <<= 1) {
        if (m & 1u) {
            p += a;
        }
    }
    q = v < 0 ? -(int32_t)p : (int32_t)p;
    if (s != 0u) {
        q = ((q >> (s - 1u)) + 1) >> 1;
    }
    return (int8_t)(q < -127 ? -127 : q > 127 ? 127 : q);
}

/* The asm loop of nnrt/arch/avr/activation.h over n values (1..255) sharing M and S >= 17, clamped to
 * -127..127; a function of its own, so that the asm has the registers it needs. */
NNRT_FN void nnrt_avr_gate_requant_hi(const int32_t *acc, int8_t *y, uint8_t n, uint16_t m, uint8_t s)
{
    uint16_t hu = 1;
    uint8_t k;
    for (k = 17; k < s; k++) {
        hu <<= 1;
    }
    nnrt_avr_requant_hi(acc, y, n, m, hu, (uint8_t)(s - 16u), -127, 127);
}

/* As the portable nnrt_gates_requant: a run of values sharing S >= 17 (a per-tensor block) goes
 * through the asm loop nnrt_avr_requant_hi, anything else one value at a time. */
NNRT_FN void nnrt_gates_requant(const int32_t *acc, int8_t *y, uint16_t units, uint8_t blocks,
                                nnrt_wptr_t mult, nnrt_wptr_t shift, uint8_t per_channel)
{
    nnrt_rd_open();
    for (; blocks != 0u; blocks--) {
        uint16_t left = units;
        while (left != 0u) {
            const uint16_t m = (uint16_t)(nnrt_rd_fast(mult) | nnrt_rd_fast(mult + 1) << 8);
            const uint8_t s = nnrt_rd_fast(shift);
            const uint8_t run = per_channel ? 1u : left < 255u ? (uint8_t)left : 255u;
            if (s >= 17u) {
                nnrt_avr_gate_requant_hi(acc, y, run, m, s);
            } else {
                uint8_t i;
                for (i = 0; i < run; i++) {
                    y[i] = nnrt_avr_gate_requant1(acc[i], m, s);
                }
            }
            acc += run;
            y += run;
            left = (uint16_t)(left - run);
            if (per_channel || left == 0u) { /* the next (M, S): every row's, or the next block's */
                mult += 2;
                shift++;
            }
        }
    }
}
#endif

#endif /* NNRT_OPS_GATES_H */

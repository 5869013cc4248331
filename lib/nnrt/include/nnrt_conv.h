/* nnrt kernels for conv2d, max-pooling and int4 weights (portable C99).
 *
 * Included by the generated code of models that have conv/pool layers or int4 weights, after
 * nnrt_kernels.h (which defines NNRT_RD for the model's storage). All reads of weight storage go
 * through NNRT_RD, so the same code runs on RAM, flash, PROGMEM and EEPROM.
 *
 * Weight tensors are row-major ([out][in] dense, [out][dy][dx][in] conv). int4 weights are packed
 * two per byte: element 2i is the low nibble of byte i, 2i+1 the high one, values -8..7 (a nibble
 * v >= 8 means v - 16). A weight index t counts elements (nibbles for int4) from a base address.
 *
 * Streaming conv (docs/quantization.md, nnmodel/codegen/convplan.py): the generated code keeps
 * line buffers of HWC input rows and calls, per pooled output row, either nnrt_conv_window (all
 * P x P conv rows at once) or nnrt_conv_run_* once per conv row then nnrt_conv_out_*. Raw sums are
 * max-pooled before bias and requantization, exact because requantize + clamp is monotone.
 *
 * The inner products are nnrt_conv_dot_w4 / nnrt_conv_dot_w8 (and nnrt_mac_w4 for dense rows):
 * an architecture header included before this one may provide its own versions with the same
 * signatures and semantics, defining NNRT_HAVE_CONV_DOT_W4 / NNRT_HAVE_CONV_DOT_W8 /
 * NNRT_HAVE_MAC_W4; the portable ones below are then left out.
 */
#ifndef NNRT_CONV_H
#define NNRT_CONV_H

#include "nnrt_kernels.h"

/* Out of line on GCC-compatible compilers: one copy shared by all stages, and a shallow stack
 * (the ATtiny85's 512 B of SRAM hold the line buffers and the stack). */
#if defined(__GNUC__)
#define NNRT_CONV_FN static __attribute__((noinline, unused))
#define NNRT_CONV_INLINE static inline __attribute__((always_inline))
#else
#define NNRT_CONV_FN static
#define NNRT_CONV_INLINE static inline
#endif

/* Signed int4 element i of packed weight storage w. */
static inline int8_t nnrt_w4_at(nnrt_wptr_t w, uint32_t i)
{
    uint8_t b = NNRT_RD(w + (i >> 1));
    b = (uint8_t)((i & 1u) ? b >> 4 : b & 0x0Fu);
    return (int8_t)((int8_t)(b ^ 8u) - 8); /* 0..7 -> 0..7, 8..15 -> -8..-1 */
}

#ifndef NNRT_HAVE_CONV_DOT_W4
/* sum over s < k, i < n of w4[t + s*n + i] * x, x = rows[s][off + i]: uint8 (pixels) or, if sx,
 * int8 read as a byte. The weight elements run on across the k segments (a conv output's taps
 * over k input rows); a dense row is one segment. Each weight byte is read once. */
NNRT_CONV_INLINE int32_t nnrt_conv_dot_w4(nnrt_wptr_t w, uint16_t t, const uint8_t *const *rows, uint8_t k,
                                          uint16_t off, uint16_t n, uint8_t sx)
{
    int32_t sum = 0;
    uint8_t s, b = 0, high = (uint8_t)(t & 1u);
    w += t >> 1;
    if (high) {
        b = NNRT_RD(w++);
    }
    for (s = 0; s < k; s++) {
        const uint8_t *x = rows[s] + off;
        uint16_t i;
        for (i = 0; i < n; i++) {
            int8_t v;
            if (high) {
                v = (int8_t)((int8_t)((b >> 4) ^ 8u) - 8); /* 8..15 -> -8..-1 */
            } else {
                b = NNRT_RD(w++);
                v = (int8_t)((int8_t)((b & 0x0Fu) ^ 8u) - 8);
            }
            high ^= 1u;
            sum += sx ? v * (int8_t)x[i] : v * x[i]; /* |product| <= 2040: int arithmetic */
        }
    }
    return sum;
}
#endif

#ifndef NNRT_HAVE_CONV_DOT_W8
/* The same for int8 weights: element t + s*n + i is byte w[t + s*n + i]. */
NNRT_CONV_INLINE int32_t nnrt_conv_dot_w8(nnrt_wptr_t w, uint16_t t, const uint8_t *const *rows, uint8_t k,
                                          uint16_t off, uint16_t n, uint8_t sx)
{
    int32_t sum = 0;
    uint16_t i;
    uint8_t s;
    w += t;
    for (s = 0; s < k; s++, w += n) {
        const uint8_t *x = rows[s] + off;
        if (sx) {
            for (i = 0; i < n; i++) {
                sum += (int8_t)NNRT_RD(w + i) * (int8_t)x[i]; /* fits int16 */
            }
        } else {
            for (i = 0; i < n; i++) {
                sum += (int8_t)NNRT_RD(w + i) * x[i]; /* fits int16: -32640..32385 */
            }
        }
    }
    return sum;
}
#endif

/* acc[j] += d: int32 accumulators, or int16 ones (acc16) when the overflow proof bounds every
 * partial sum of the layer within int16 (codegen decides). */
NNRT_CONV_INLINE void nnrt_acc_add(void *acc, uint8_t acc16, uint16_t j, int32_t d)
{
    if (acc16) {
        int16_t *a = (int16_t *)acc + j;
        *a = (int16_t)(*a + d);
    } else {
        ((int32_t *)acc)[j] += d;
    }
}

/* acc[j] += sum_i w4[t + j*stride + i] * x[i] for j < n_out, i < n: a dense layer with packed
 * int4 weights (t: element index of the first weight used; streaming passes a column offset). */
#if defined(__AVR__)
/* AVR: each output's row through the bit-plane kernel, pieces of at most 255 inputs. */
NNRT_CONV_FN void nnrt_mac_w4(void *acc, uint8_t acc16, nnrt_wptr_t w, uint32_t t, uint16_t n_out,
                              uint32_t stride, const uint8_t *x, uint16_t n, uint8_t sx)
{
    uint16_t j;
    for (j = 0; j < n_out; j++, t += stride) {
        uint16_t done = 0;
        while (done < n) {
            const uint8_t len = (uint8_t)(n - done < 255u ? n - done : 255u);
            const uint8_t *seg = x + done;
            nnrt_acc_add(acc, acc16, j, nnrt_pool_w4(w + ((t + done) >> 1), (uint16_t)((t + done) & 1u), &seg, 0u,
                                                     1u, len, 1u, 1u, 1u, sx));
            done = (uint16_t)(done + len);
        }
    }
}
#elif !defined(NNRT_HAVE_MAC_W4)
NNRT_CONV_FN void nnrt_mac_w4(void *acc, uint8_t acc16, nnrt_wptr_t w, uint32_t t, uint16_t n_out,
                              uint32_t stride, const uint8_t *x, uint16_t n, uint8_t sx)
{
    uint16_t j;
    for (j = 0; j < n_out; j++, t += stride) {
        nnrt_acc_add(acc, acc16, j, nnrt_conv_dot_w4(w + (t >> 1), (uint16_t)(t & 1u), &x, 1u, 0u, n, sx));
    }
}
#endif

/* acc[j] = bias[j] * 2^k as int16 (acc16 layers: the proof bounds the biases too). */
static inline void nnrt_bias_s16(int16_t *acc, nnrt_wptr_t bias, uint16_t n, uint8_t width, uint8_t k)
{
    uint16_t j;
    for (j = 0; j < n; j++) {
        acc[j] = (int16_t)(nnrt_rd_le(bias + (size_t)j * width, width) * ((int32_t)1 << k));
    }
}

/* acc[j] *= 2^k: biases stored shifted right by k (an int4 layer's coarse int8 << k biases). */
static inline void nnrt_bias_shl(int32_t *acc, uint16_t n, uint8_t k)
{
    uint16_t j;
    for (j = 0; j < n; j++) {
        acc[j] *= (int32_t)1 << k;
    }
}

/* Max over dy < n_dy, dx < p of the raw conv sum (no bias) at input column col + dx of rows
 * rows[dy..dy+k-1], for the output whose weights start at element t. */
NNRT_CONV_INLINE int32_t nnrt_conv_max(const uint8_t *const *rows, uint16_t n_dy, uint16_t p, uint8_t k,
                                       uint16_t c_in, uint16_t col, nnrt_wptr_t w, uint32_t t, uint8_t w4,
                                       uint8_t sx)
{
    const uint16_t taps = (uint16_t)(k * c_in);
    int32_t best = 0;
    uint16_t dy, dx;
    for (dy = 0; dy < n_dy; dy++) {
        for (dx = 0; dx < p; dx++) {
            const uint16_t off = (uint16_t)((col + dx) * c_in);
            const int32_t v = w4 ? nnrt_conv_dot_w4(w + (t >> 1), (uint16_t)(t & 1u), rows + dy, k, off,
                                                    taps, sx)
                                 : nnrt_conv_dot_w8(w + t, 0u, rows + dy, k, off, taps, sx);
            if ((dy == 0u && dx == 0u) || v > best) {
                best = v;
            }
        }
    }
    return best;
}

/* act(requant(raw + bias[o] << bias_shift)) for output channel o: multiplier and shift per
 * channel when per_channel, else the first pair. */
NNRT_CONV_INLINE int8_t nnrt_conv_requant(int32_t raw, uint16_t o, nnrt_wptr_t bias, uint8_t bias_width,
                                          uint8_t bias_shift, nnrt_wptr_t mult, nnrt_wptr_t shift,
                                          uint8_t per_channel, int8_t lo, int8_t hi)
{
    const uint16_t c = per_channel ? o : 0u;
    const nnrt_wptr_t mp = mult + 2u * (size_t)c;
#if defined(__AVR__)
    /* No multiplier: the asm requantization of nnrt_kernels.h (a 16-step shift-add for the usual
     * S >= 17) instead of a 32-bit multiply in C; none at all when a ReLU-like clamp (lo >= 0)
     * decides: M > 0, so v <= 0 gives floor((v M + 2^(S-1)) / 2^S) <= 0, i.e. lo. */
    int32_t v = raw + nnrt_rd_le(bias + (size_t)o * bias_width, bias_width) * ((int32_t)1 << bias_shift);
    int8_t y;
    if (v <= 0 && lo >= 0) {
        return lo;
    }
    nnrt_requant_s8(&v, &y, 1u, mp, shift + c, 0u, lo, hi, NULL);
    return y;
#else
    int32_t v = raw + nnrt_rd_le(bias + (size_t)o * bias_width, bias_width) * ((int32_t)1 << bias_shift);
    const int32_t m = (int32_t)((uint16_t)NNRT_RD(mp) | (uint16_t)NNRT_RD(mp + 1) << 8);
    const uint8_t s = NNRT_RD(shift + c);
    v *= m; /* proven: |acc * M| + 2^(S-1) <= INT32_MAX */
    if (s) { /* floor((v + 2^(S-1)) / 2^S) without >> of a negative value */
        v += (int32_t)1 << (s - 1u);
        v = v >= 0 ? (int32_t)((uint32_t)v >> s) : (int32_t) ~(~(uint32_t)v >> s);
    }
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
#endif
}

/* One pooled output row, window strategy: rows[0..k+p-2] are the input rows of the p conv rows
 * of the pooling group. For q < n_q, o < c_out: y[q*c_out + o] = act(requant(bias[o] + max over
 * the p x p conv sums at conv columns q*p..q*p+p-1)). p = 1 is a plain conv row. */
NNRT_CONV_FN void nnrt_conv_window_c(const uint8_t *const *rows, uint8_t sx, uint8_t w4, uint8_t k,
                                   uint16_t c_in, uint16_t c_out, uint16_t p, uint16_t n_q,
                                   nnrt_wptr_t w, nnrt_wptr_t bias, uint8_t bias_width,
                                   uint8_t bias_shift, nnrt_wptr_t mult, nnrt_wptr_t shift,
                                   uint8_t per_channel, int8_t lo, int8_t hi, int8_t *y)
{
    const uint32_t per_out = (uint32_t)k * k * c_in;
    uint16_t q, o;
    for (q = 0; q < n_q; q++) {
        for (o = 0; o < c_out; o++) {
            const int32_t m = nnrt_conv_max(rows, p, p, k, c_in, (uint16_t)(q * p), w, o * per_out, w4, sx);
            *y++ = nnrt_conv_requant(m, o, bias, bias_width, bias_shift, mult, shift, per_channel, lo, hi);
        }
    }
}

/* Entry j of a running-max buffer: int16 or (wide) int32, as the proof requires. */
NNRT_CONV_INLINE int32_t nnrt_run_at(const void *run, uint8_t wide, uint16_t j)
{
    return wide ? ((const int32_t *)run)[j] : ((const int16_t *)run)[j];
}

/* run[j] = m if first, else the larger of the two. */
NNRT_CONV_INLINE void nnrt_run_max(void *run, uint8_t wide, uint16_t j, int32_t m, uint8_t first)
{
    if (first || m > nnrt_run_at(run, wide, j)) {
        if (wide) {
            ((int32_t *)run)[j] = m;
        } else {
            ((int16_t *)run)[j] = (int16_t)m;
        }
    }
}

/* Running strategy, one conv row (rows[0..k-1]): run[q*c_out + o] = max over the p conv sums at
 * columns q*p.., combined with the earlier rows of the group unless first. The caller proves
 * every sum fits the running type (int16, or int32 if wide). */
NNRT_CONV_FN void nnrt_conv_run_c(const uint8_t *const *rows, uint8_t sx, uint8_t w4, uint8_t k, uint16_t c_in,
                                  uint16_t c_out, uint16_t p, uint16_t n_q, nnrt_wptr_t w, void *run, uint8_t wide,
                                  uint8_t first)
{
    const uint32_t per_out = (uint32_t)k * k * c_in;
    uint16_t q, o, j = 0;
    for (q = 0; q < n_q; q++) {
        for (o = 0; o < c_out; o++, j++) {
            nnrt_run_max(run, wide, j, nnrt_conv_max(rows, 1u, p, k, c_in, (uint16_t)(q * p), w, o * per_out, w4, sx),
                         first);
        }
    }
}

/* End of a pooling group: y[j] = act(requant(bias[o] + run[j])), o = j % c_out, j < n_q*c_out.
 * y may be the running buffer itself (each byte is written after the entry holding it is read). */
NNRT_CONV_FN void nnrt_conv_out(const void *run, uint8_t wide, uint16_t n_q, uint16_t c_out, nnrt_wptr_t bias,
                                uint8_t bias_width, uint8_t bias_shift, nnrt_wptr_t mult, nnrt_wptr_t shift,
                                uint8_t per_channel, int8_t lo, int8_t hi, int8_t *y)
{
    uint16_t q, o, j = 0;
    for (q = 0; q < n_q; q++) {
        for (o = 0; o < c_out; o++, j++) {
            *y++ = nnrt_conv_requant(nnrt_run_at(run, wide, j), o, bias, bias_width, bias_shift, mult, shift,
                                     per_channel, lo, hi);
        }
    }
}

#if defined(__AVR__)
/* ------------------------------------------------------------------------------------------------
 * AVR: the int4 layers take each pooled output's window through nnrt_pool_w4 (nnrt_avr_w4.h:
 * bit-plane sums in asm, no multiplier; blank windows skipped for all channels at once); int8 weights (and sums too long
 * for the planes) take the portable code above. Same results: test/attiny85/test_w4 proves the
 * kernel, the simulator tests the whole model against nnmodel.reference. No scratch arrays: the
 * stack shares the 512 bytes of SRAM with the line buffers. */
NNRT_CONV_INLINE uint8_t nnrt_avr_fits_w4(uint8_t w4, uint8_t k, uint16_t c_in, uint16_t p, uint8_t sx)
{
    const uint16_t n = (uint16_t)(k * c_in);
    return w4 && n <= 255u && p <= 15u && c_in <= 255u && (uint32_t)k * n <= (sx ? 255u : 257u);
}

NNRT_CONV_INLINE void nnrt_conv_window(const uint8_t *const *rows, uint8_t sx, uint8_t w4, uint8_t k,
                                   uint16_t c_in, uint16_t c_out, uint16_t p, uint16_t n_q,
                                   nnrt_wptr_t w, nnrt_wptr_t bias, uint8_t bias_width,
                                   uint8_t bias_shift, nnrt_wptr_t mult, nnrt_wptr_t shift,
                                   uint8_t per_channel, int8_t lo, int8_t hi, int8_t *y)
{
    const uint8_t n = (uint8_t)(k * c_in);
    const int8_t *blank = NULL; /* the output of this row's first blank window */
    uint16_t q, o;
    if (!nnrt_avr_fits_w4(w4, k, c_in, p, sx)) {
        nnrt_conv_window_c(rows, sx, w4, k, c_in, c_out, p, n_q, w, bias, bias_width, bias_shift, mult, shift,
                           per_channel, lo, hi, y);
        return;
    }
    for (q = 0; q < n_q; q++) {
        /* A blank window (much of a digit's first layer) sums to 0 in every channel: its outputs
         * are the requantized biases, the same for every blank window. */
        const uint8_t any = (uint16_t)(p + k - 1u) * c_in > 255u ||
                            nnrt_any_nonzero(rows, (uint8_t)(p + k - 1u), (uint16_t)(q * p * c_in),
                                             (uint8_t)((p + k - 1u) * c_in));
        if (!any && blank != NULL) {
            for (o = 0; o < c_out; o++) {
                *y++ = blank[o];
            }
            continue;
        }
        if (!any) {
            blank = y;
        }
        for (o = 0; o < c_out; o++) {
            const int32_t m = any ? nnrt_pool_w4(w, (uint16_t)(o * k * n), rows, (uint16_t)(q * p * c_in), k, n,
                                                 (uint8_t)c_in, (uint8_t)p, (uint8_t)p, sx)
                                  : 0;
            *y++ = nnrt_conv_requant(m, o, bias, bias_width, bias_shift, mult, shift, per_channel, lo, hi);
        }
    }
}

NNRT_CONV_INLINE void nnrt_conv_run(const uint8_t *const *rows, uint8_t sx, uint8_t w4, uint8_t k, uint16_t c_in,
                                     uint16_t c_out, uint16_t p, uint16_t n_q, nnrt_wptr_t w, void *run,
                                     uint8_t wide, uint8_t first)
{
    const uint8_t n = (uint8_t)(k * c_in);
    uint16_t q, o, j = 0;
    if (!nnrt_avr_fits_w4(w4, k, c_in, p, sx)) {
        nnrt_conv_run_c(rows, sx, w4, k, c_in, c_out, p, n_q, w, run, wide, first);
        return;
    }
    for (q = 0; q < n_q; q++) {
        for (o = 0; o < c_out; o++, j++) {
            nnrt_run_max(run, wide, j,
                         nnrt_pool_w4(w, (uint16_t)(o * k * n), rows, (uint16_t)(q * p * c_in), k, n, (uint8_t)c_in,
                                      1u, (uint8_t)p, sx),
                         first);
        }
    }
}
#else
#define nnrt_conv_window nnrt_conv_window_c
#define nnrt_conv_run nnrt_conv_run_c
#endif /* __AVR__ */

/* Max-pool of one image row (one channel) into a pooled row: y[q] = max over x[q*p..q*p+p-1],
 * combined with y[q] unless first (the p rows of a group arrive one by one). */
NNRT_CONV_FN void nnrt_pool_u8(const uint8_t *x, uint16_t n_q, uint16_t p, uint8_t *y, uint8_t first)
{
    uint16_t q, dx;
    for (q = 0; q < n_q; q++, x += p) {
        uint8_t m = x[0];
        for (dx = 1; dx < p; dx++) {
            m = x[dx] > m ? x[dx] : m;
        }
        if (first || m > y[q]) {
            y[q] = m;
        }
    }
}

#endif /* NNRT_CONV_H */

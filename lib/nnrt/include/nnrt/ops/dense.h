/* nnrt dense products and biases: acc = bias + W · x over int32 (or proven-int16) accumulators.
 * The dense and rnn kinds lower to these (an RNN step is two products into one accumulator).
 *
 * Weights are row-major [out][in] in weight storage: int8, or packed int4 (`_w4`: two per byte,
 * element 2i in the low nibble of byte i, 2i+1 in the high one, values -8..7). Products fit
 * int16 (|w * x| <= 32640); sums are int32, bounded by the compiler's overflow proof.
 * Specification: nnmodel/ops/dense.py, nnmodel/reference.py, docs/quantization.md.
 */
#ifndef NNRT_OPS_DENSE_H
#define NNRT_OPS_DENSE_H

#include "nnrt/storage.h"

/* acc[j] += d: int32 accumulators, or int16 ones (acc16) when the overflow proof bounds every
 * partial sum of the layer within int16 (codegen decides). */
NNRT_INLINE void nnrt_acc_add(void *acc, uint8_t acc16, uint16_t j, int32_t d)
{
    if (acc16) {
        int16_t *a = (int16_t *)acc + j;
        *a = (int16_t)(*a + d);
    } else {
        ((int32_t *)acc)[j] += d;
    }
}

/* sum over s < k, i < n of w4[t + s*n + i] * x, x = rows[s][off + i]: uint8 (pixels) or, if sx,
 * int8 read as a byte. The weight elements run on across the k segments (a conv output's taps
 * over k input rows); a dense row is one segment. Each weight byte is read once. */
NNRT_INLINE int32_t nnrt_dot_w4(nnrt_wptr_t w, uint16_t t, const uint8_t *const *rows, uint8_t k, uint16_t off,
                                uint16_t n, uint8_t sx)
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

#if !defined(__AVR__) /* ---- portable C: the reference the AVR variants are proven equal to ---- */
/* acc[j] = bias[j], biases stored `width` bytes each. */
static inline void nnrt_bias_s32(int32_t *acc, nnrt_wptr_t bias, uint16_t n, uint8_t width)
{
    unsigned j;
    for (j = 0; j < n; j++) {
        acc[j] = nnrt_rd_le(bias + (uint32_t)j * width, width);
    }
}

/* Inputs per zero-skipping pass of nnrt_mac_u8 (bounds its stack lists). */
#define NNRT_U8_CHUNK 32u

/* int8 weight * uint8 input as int32: the product fits int16 (|w*x| <= 32640), the sums may not. */
#define NNRT_PROD(wp, xv) ((int32_t)((int8_t)NNRT_RD(wp) * (xv)))

/* Outputs per pass of the product kernels: each input value is loaded once for eight outputs, and
 * with the row stride a compile-time constant (the generated calls pass one) the eight weight rows
 * are a few base registers plus immediate offsets. The eight sums are spelled out (s0..s7): -Os
 * builds (the ESP32-C3's) do not unroll a loop over an array into registers. Counters are
 * `unsigned`: uint16_t ones cost two extra instructions per step on RV32 to wrap them. */
#define NNRT_ROWS 8u

/* EACH(M) applies M to the row index 0..7. */
#define NNRT_EACH_ROW(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
/* The sums start from the accumulators and go back to them: no separate add per output. */
#define NNRT_LOAD_ROW(k) int32_t s##k = acc[j + k##u];
#define NNRT_ZERO_SUM(k) int32_t s##k = 0;
#define NNRT_STORE_ROW(k) acc[j + k##u] = s##k;
/* Row k's four products with x0..x3 at column i (w, stride, i, x0..x3 in scope). */
#define NNRT_DOT4_ROW(k)                                                                                     \
    s##k += NNRT_PROD(w + k##u * stride + i, x0) + NNRT_PROD(w + k##u * stride + i + 1u, x1)               \
          + NNRT_PROD(w + k##u * stride + i + 2u, x2) + NNRT_PROD(w + k##u * stride + i + 3u, x3);
/* Row k's product with the list entry (r = the entry's weight in row 0, v its value). */
#define NNRT_LIST_ROW(k) s##k += (int8_t)NNRT_RD(r + k##u * stride) * v;

/* acc[j] += sum_i w[j*stride + i] * x[i] over n dense uint8 inputs: eight outputs per pass sharing
 * each input load, four inputs per step so the loads use constant offsets. */
static inline void nnrt_mac_u8_dense(int32_t *acc, nnrt_wptr_t w, unsigned n_out, uint32_t stride,
                                     const uint8_t *x, unsigned n)
{
    unsigned i, j;
    for (j = 0; j + NNRT_ROWS <= n_out; j += NNRT_ROWS, w += NNRT_ROWS * stride) {
        NNRT_EACH_ROW(NNRT_LOAD_ROW)
        for (i = 0; i + 3u < n; i += 4u) {
            const int16_t x0 = x[i], x1 = x[i + 1u], x2 = x[i + 2u], x3 = x[i + 3u];
            NNRT_EACH_ROW(NNRT_DOT4_ROW)
        }
        for (; i < n; i++) {
            const nnrt_wptr_t r = w + i;
            const int16_t v = x[i];
            NNRT_EACH_ROW(NNRT_LIST_ROW)
        }
        NNRT_EACH_ROW(NNRT_STORE_ROW)
    }
    for (; (uint16_t)j < n_out; j++, w += stride) { /* (uint16_t): GCC then sees the bound */
        int32_t s0 = 0;
        for (i = 0; i < n; i++) {
            s0 += NNRT_PROD(w + i, x[i]);
        }
        acc[j] += s0;
    }
}

/* acc[j] += sum_i w[j*stride + i] * x[i] for uint8 inputs (image pixels); int8 * uint8 fits int16
 * (|w*x| <= 32640). Zero pixels add nothing, and most MNIST pixels are 0: each chunk of inputs
 * is listed once as (offset, value) of its nonzero pixels, and every output walks only that list,
 * eight outputs per pass so each list entry is loaded once for eight. The products are ints (no
 * int16 truncation step): they fit int16, so this is the same value on 16-bit-int targets. */
static inline void nnrt_mac_u8_portable(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                                        const uint8_t *x, uint16_t n_in)
{
    unsigned i0, j;
    for (i0 = 0; i0 < n_in; i0 += NNRT_U8_CHUNK) {
        uint8_t off[NNRT_U8_CHUNK];
        int16_t val[NNRT_U8_CHUNK];
        uint8_t *po = off;
        int16_t *pv = val;
        const uint8_t *const xc = x + i0;
        unsigned e, n = 0, lim = n_in - i0;
        nnrt_wptr_t wj = w + i0;
        if (lim > NNRT_U8_CHUNK) {
            lim = NNRT_U8_CHUNK;
        }
        /* Count first (branch-free, four at a time): a mostly nonzero chunk never pays for a list. */
        for (e = 0; e + 3u < lim; e += 4u) {
            n += (unsigned)(xc[e] != 0u) + (unsigned)(xc[e + 1u] != 0u) + (unsigned)(xc[e + 2u] != 0u)
               + (unsigned)(xc[e + 3u] != 0u);
        }
        for (; e < lim; e++) {
            n += (unsigned)(xc[e] != 0u);
        }
        if (n == 0u) {
            continue;
        }
        if (4u * n >= 3u * lim) {
            /* Mostly nonzero: plain contiguous loads beat the list's indirection (zeros add 0). */
            nnrt_mac_u8_dense(acc, wj, n_out, stride, xc, lim);
            continue;
        }
        for (e = 0; e < lim; e++) {
            if (xc[e] != 0u) {
                *po++ = (uint8_t)e;
                *pv++ = xc[e];
            }
        }
        for (j = 0; j + NNRT_ROWS <= n_out; j += NNRT_ROWS, wj += NNRT_ROWS * stride) {
            NNRT_EACH_ROW(NNRT_LOAD_ROW)
            for (e = 0; e < n; e++) {
                const nnrt_wptr_t r = wj + off[e];
                const int16_t v = val[e];
                NNRT_EACH_ROW(NNRT_LIST_ROW)
            }
            NNRT_EACH_ROW(NNRT_STORE_ROW)
        }
        for (; (uint16_t)j < n_out; j++, wj += stride) {
            int32_t s0 = 0;
            for (e = 0; e < n; e++) {
                s0 += (int8_t)NNRT_RD(wj + off[e]) * val[e];
            }
            acc[j] += s0;
        }
    }
}

/* int8 weight * int8 input: the product fits int16 (|w*x| <= 16384). The int16 cast is a no-op
 * on the value, but without it GCC 12.2 at -O3 -march=native (AVX-512) miscompiles this loop's
 * vectorised dot product (tests/test_host_simd.py); the eight-row passes do not use it. */
#define NNRT_PROD_S8(wp, xv) ((int16_t)((int16_t)(int8_t)NNRT_RD(wp) * (int16_t)(xv)))

/* acc[j] += sum_i w[j*stride + i] * x[i] for int8 inputs (activations), eight outputs per pass
 * sharing each input load (|w*x| <= 16384: the int products of NNRT_LIST_ROW are exact). */
static inline void nnrt_mac_s8_portable(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                                        const int8_t *x, uint16_t n_in)
{
    unsigned i, j;
    for (j = 0; j + NNRT_ROWS <= n_out; j += NNRT_ROWS, w += NNRT_ROWS * stride) {
        NNRT_EACH_ROW(NNRT_LOAD_ROW)
        /* Four inputs per step, as the uint8 kernel: a one-input step over eight rows is what GCC
         * 12's loop vectoriser (-O3 -march=native, AVX-512) miscompiles (tests/test_host_simd.py). */
        for (i = 0; i + 3u < n_in; i += 4u) {
            const int16_t x0 = x[i], x1 = x[i + 1u], x2 = x[i + 2u], x3 = x[i + 3u];
            NNRT_EACH_ROW(NNRT_DOT4_ROW)
        }
        for (; i < n_in; i++) {
            const nnrt_wptr_t r = w + i;
            const int16_t v = x[i];
            NNRT_EACH_ROW(NNRT_LIST_ROW)
        }
        NNRT_EACH_ROW(NNRT_STORE_ROW)
    }
    for (; (uint16_t)j < n_out; j++, w += stride) {
        int32_t sum = acc[j];
        for (i = 0; i < n_in; i++) {
            sum += NNRT_PROD_S8(w + i, x[i]);
        }
        acc[j] = sum;
    }
}

/* The kernels the generated code calls: a vector path where the build enables one (NNRT_PORTABLE
 * forces the portable reference), else the portable kernels above. */
#if defined(__AVX2__) && !defined(NNRT_PORTABLE)
#include "nnrt/arch/x86/dense.h"
#else
#define nnrt_mac_u8 nnrt_mac_u8_portable
#define nnrt_mac_s8 nnrt_mac_s8_portable
#endif

/* acc[j] += sum_i w4[t + j*stride + i] * x[i] for j < n_out, i < n: a dense layer with packed
 * int4 weights (t: element index of the first weight used; streaming passes a column offset). */
NNRT_FN void nnrt_mac_w4(void *acc, uint8_t acc16, nnrt_wptr_t w, uint32_t t, uint16_t n_out, uint32_t stride,
                         const uint8_t *x, uint16_t n, uint8_t sx)
{
    uint16_t j;
    for (j = 0; j < n_out; j++, t += stride) {
        nnrt_acc_add(acc, acc16, j, nnrt_dot_w4(w + (t >> 1), (uint16_t)(t & 1u), &x, 1u, 0u, n, sx));
    }
}

#else /* ---- AVR: no hardware multiplier ---- */
#include "nnrt/arch/avr/dense.h"
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

#endif /* NNRT_OPS_DENSE_H */

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
    uint16_t j;
    for (j = 0; j < n; j++) {
        acc[j] = nnrt_rd_le(bias + (uint32_t)j * width, width);
    }
}

/* Inputs per zero-skipping pass of nnrt_mac_u8 (bounds its stack lists). */
#define NNRT_U8_CHUNK 32u

/* int8 weight * uint8 input as int32: the product fits int16 (|w*x| <= 32640), the sums may not. */
#define NNRT_PROD(wp, xv) ((int32_t)((int8_t)NNRT_RD(wp) * (xv)))

/* acc[j] += sum_i w[j*stride + i] * x[i] over n dense uint8 inputs, four outputs per pass sharing
 * each input load, four inputs per step so the loads use constant offsets. */
static inline void nnrt_mac_u8_dense(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                                     const uint8_t *x, uint16_t n)
{
    uint16_t i, j;
    for (j = 0; j + 3u < n_out; j += 4u, w += 4u * stride) {
        nnrt_wptr_t w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (i = 0; i + 3u < n; i += 4u) {
            int16_t x0 = x[i], x1 = x[i + 1u], x2 = x[i + 2u], x3 = x[i + 3u];
            s0 += NNRT_PROD(w + i, x0) + NNRT_PROD(w + i + 1u, x1)
                + NNRT_PROD(w + i + 2u, x2) + NNRT_PROD(w + i + 3u, x3);
            s1 += NNRT_PROD(w1 + i, x0) + NNRT_PROD(w1 + i + 1u, x1)
                + NNRT_PROD(w1 + i + 2u, x2) + NNRT_PROD(w1 + i + 3u, x3);
            s2 += NNRT_PROD(w2 + i, x0) + NNRT_PROD(w2 + i + 1u, x1)
                + NNRT_PROD(w2 + i + 2u, x2) + NNRT_PROD(w2 + i + 3u, x3);
            s3 += NNRT_PROD(w3 + i, x0) + NNRT_PROD(w3 + i + 1u, x1)
                + NNRT_PROD(w3 + i + 2u, x2) + NNRT_PROD(w3 + i + 3u, x3);
        }
        for (; i < n; i++) {
            s0 += NNRT_PROD(w + i, x[i]);
            s1 += NNRT_PROD(w1 + i, x[i]);
            s2 += NNRT_PROD(w2 + i, x[i]);
            s3 += NNRT_PROD(w3 + i, x[i]);
        }
        acc[j] += s0;
        acc[j + 1u] += s1;
        acc[j + 2u] += s2;
        acc[j + 3u] += s3;
    }
    for (; j < n_out; j++, w += stride) {
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
 * four outputs per pass so each list entry is loaded once for four. The products are ints (no
 * int16 truncation step): they fit int16, so this is the same value on 16-bit-int targets. */
static inline void nnrt_mac_u8_portable(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                                        const uint8_t *x, uint16_t n_in)
{
    uint16_t i0, j;
    for (i0 = 0; i0 < n_in; i0 += NNRT_U8_CHUNK) {
        uint8_t off[NNRT_U8_CHUNK];
        int16_t val[NNRT_U8_CHUNK];
        uint16_t i, k, n = 0, lim = (uint16_t)(n_in - i0);
        nnrt_wptr_t wj = w + i0;
        if (lim > NNRT_U8_CHUNK) {
            lim = NNRT_U8_CHUNK;
        }
        for (i = 0; i < lim; i++) {
            if (x[i0 + i] != 0) {
                off[n] = (uint8_t)i;
                val[n++] = x[i0 + i];
            }
        }
        if (n == 0) {
            continue;
        }
        if (4u * n >= 3u * lim) {
            /* Mostly nonzero: plain contiguous loads beat the list's indirection (zeros add 0). */
            nnrt_mac_u8_dense(acc, wj, n_out, stride, x + i0, lim);
            continue;
        }
        for (j = 0; j + 3u < n_out; j += 4u, wj += 4u * stride) {
            nnrt_wptr_t w1 = wj + stride, w2 = w1 + stride, w3 = w2 + stride;
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (k = 0; k < n; k++) {
                s0 += (int8_t)NNRT_RD(wj + off[k]) * val[k];
                s1 += (int8_t)NNRT_RD(w1 + off[k]) * val[k];
                s2 += (int8_t)NNRT_RD(w2 + off[k]) * val[k];
                s3 += (int8_t)NNRT_RD(w3 + off[k]) * val[k];
            }
            acc[j] += s0;
            acc[j + 1u] += s1;
            acc[j + 2u] += s2;
            acc[j + 3u] += s3;
        }
        for (; j < n_out; j++, wj += stride) {
            int32_t s0 = 0;
            for (k = 0; k < n; k++) {
                s0 += (int8_t)NNRT_RD(wj + off[k]) * val[k];
            }
            acc[j] += s0;
        }
    }
}

/* acc[j] += sum_i w[j*stride + i] * x[i] for int8 inputs (activations). */
static inline void nnrt_mac_s8_portable(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                                        const int8_t *x, uint16_t n_in)
{
    uint16_t i, j;
    for (j = 0; j < n_out; j++) {
        nnrt_wptr_t wj = w + (uint32_t)j * stride;
        int32_t sum = 0;
        for (i = 0; i < n_in; i++) {
            sum += (int16_t)((int16_t)(int8_t)NNRT_RD(wj + i) * (int16_t)x[i]);
        }
        acc[j] += sum;
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

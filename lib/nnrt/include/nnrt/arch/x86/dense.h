/* x86 (AVX2) products of the dense kernels (nnrt/ops/dense.h), for host builds with -mavx2 or
 * -march=native: `nnmodel eval --engine c`, `pio test -e native`. Same results as the portable
 * kernels (nnrt_mac_u8_portable, nnrt_mac_s8_portable), which tests/test_host_simd.py proves on
 * random models: every product int8 * (u)int8 is exact in int16 (|w*x| <= 32640), vpmaddwd adds
 * two into an exact int32, and the int32 sums are those the overflow proof bounds.
 *
 * The portable kernels skip zero pixels through an index list, which stops vectorisation; here
 * each output's weights over the n inputs are read as 16-byte blocks (an overlapping last block,
 * its already-counted inputs zeroed, so nothing past the row is read), eight outputs are summed
 * side by side and reduced together, and zero skipping keeps only what pays: an all-zero input
 * row or block costs nothing.
 */
#ifndef NNRT_ARCH_X86_DENSE_H
#define NNRT_ARCH_X86_DENSE_H

#include <immintrin.h>

/* Out of line and outside GCC's interprocedural cloning: a clone specialised to one small input
 * array draws -Warray-bounds for loads the n >= 16 bound rules out. */
#if defined(__clang__) || !defined(__GNUC__)
#define NNRT_X86_FN static __attribute__((noinline, unused))
#else
#define NNRT_X86_FN static __attribute__((noipa, unused))
#endif

#define NNRT_X86_MAX_BLOCKS 64u /* inputs per call the vector path takes (1024); longer ones stay portable */

/* Sums of eight int32x8 vectors as one vector: lane k = sum of v[k]'s lanes. */
static inline __m256i nnrt_x86_sum8(const __m256i v[8])
{
    __m256i a = _mm256_hadd_epi32(v[0], v[1]), b = _mm256_hadd_epi32(v[2], v[3]);
    __m256i c = _mm256_hadd_epi32(v[4], v[5]), d = _mm256_hadd_epi32(v[6], v[7]);
    __m256i ab = _mm256_hadd_epi32(a, b), cd = _mm256_hadd_epi32(c, d);
    return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
}

/* acc[0..7] += the lane sums of s[0..7]. */
static inline void nnrt_x86_add8(int32_t *acc, const __m256i s[8])
{
    _mm256_storeu_si256((__m256i *)(void *)acc,
                        _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(const void *)acc), nnrt_x86_sum8(s)));
}

/* The outputs j..n_out-1 past the last group of eight, one at a time. */
static inline void nnrt_x86_rest(int32_t *acc, nnrt_wptr_t w, uint16_t j, uint16_t n_out, uint32_t stride,
                                 const uint8_t *x, uint16_t n, uint8_t sx)
{
    uint16_t i;
    for (; j < n_out; j++, w += stride) {
        int32_t sum = 0;
        for (i = 0; i < n; i++) {
            sum += (int8_t)w[i] * (sx ? (int32_t)(int8_t)x[i] : (int32_t)x[i]);
        }
        acc[j] += sum;
    }
}

/* acc[j] += sum_i w[j*stride + i] * x[i] for n >= 16 inputs, uint8 (sx = 0) or int8 (sx = 1). */
NNRT_X86_FN void nnrt_mac_x86(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride, const uint8_t *x,
                                uint16_t n, uint8_t sx)
{
    __m256i xb[NNRT_X86_MAX_BLOCKS];
    uint16_t off[NNRT_X86_MAX_BLOCKS];
    uint16_t nb = 0, b, j, i;
    for (i = 0; i < n; i += 16u) {
        uint16_t at = (uint16_t)(i + 16u <= n ? i : n - 16u); /* the last block overlaps the one before */
        __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)(x + at));
        __m256i v = sx ? _mm256_cvtepi8_epi16(raw) : _mm256_cvtepu8_epi16(raw);
        if (at != i) { /* inputs at..i-1 are counted already: zero them in this block */
            const __m256i lane = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            v = _mm256_and_si256(v, _mm256_cmpgt_epi16(lane, _mm256_set1_epi16((int16_t)(i - at - 1u))));
        }
        if (!_mm256_testz_si256(v, v)) { /* an all-zero block adds nothing */
            xb[nb] = v;
            off[nb++] = at;
        }
    }
    if (nb == 0u) {
        return;
    }
    for (j = 0; j + 7u < n_out; j += 8u, w += 8u * stride) {
        __m256i s[8];
        uint8_t k;
        for (k = 0; k < 8u; k++) {
            nnrt_wptr_t wk = w + k * stride;
            __m256i sum = _mm256_setzero_si256();
            for (b = 0; b < nb; b++) {
                __m128i wr = _mm_loadu_si128((const __m128i *)(const void *)(wk + off[b]));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_cvtepi8_epi16(wr), xb[b]));
            }
            s[k] = sum;
        }
        nnrt_x86_add8(acc + j, s);
    }
    nnrt_x86_rest(acc, w, j, n_out, stride, x, n, sx);
}

#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
/* AVX-512 VNNI: vpdpbusd multiplies uint8 by int8 and adds each four products into an int32 lane
 * without saturation (exact); masked loads read 32-byte blocks of any length without touching the
 * bytes past the row. */
NNRT_X86_FN void nnrt_mac_vnni_u8(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                                    const uint8_t *x, uint16_t n)
{
    __m256i xb[NNRT_X86_MAX_BLOCKS / 2u];
    __mmask32 mask[NNRT_X86_MAX_BLOCKS / 2u];
    uint16_t off[NNRT_X86_MAX_BLOCKS / 2u];
    uint16_t nb = 0, b, j, i;
    for (i = 0; i < n; i += 32u) {
        uint16_t left = (uint16_t)(n - i);
        __mmask32 m = left >= 32u ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << left) - 1u);
        __m256i v = _mm256_maskz_loadu_epi8(m, x + i);
        if (!_mm256_testz_si256(v, v)) {
            xb[nb] = v;
            mask[nb] = m;
            off[nb++] = i;
        }
    }
    if (nb == 0u) {
        return;
    }
    for (j = 0; j + 7u < n_out; j += 8u, w += 8u * stride) {
        __m256i s[8];
        uint8_t k;
        if (nb == 1u) { /* a row of up to 32 inputs: one product per output, unrolled */
            const nnrt_wptr_t w0 = w + off[0];
            for (k = 0; k < 8u; k++) {
                s[k] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), xb[0],
                                           _mm256_maskz_loadu_epi8(mask[0], w0 + k * stride));
            }
        } else {
            for (k = 0; k < 8u; k++) {
                nnrt_wptr_t wk = w + k * stride;
                __m256i sum = _mm256_setzero_si256();
                for (b = 0; b < nb; b++) {
                    sum = _mm256_dpbusd_epi32(sum, xb[b], _mm256_maskz_loadu_epi8(mask[b], wk + off[b]));
                }
                s[k] = sum;
            }
        }
        nnrt_x86_add8(acc + j, s);
    }
    nnrt_x86_rest(acc, w, j, n_out, stride, x, n, 0u);
}
#endif

NNRT_X86_FN void nnrt_mac_u8(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride, const uint8_t *x,
                               uint16_t n_in)
{
    if (n_in < 16u || n_in > 16u * NNRT_X86_MAX_BLOCKS) {
        nnrt_mac_u8_portable(acc, w, n_out, stride, x, n_in);
    } else {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
        nnrt_mac_vnni_u8(acc, w, n_out, stride, x, n_in);
#else
        nnrt_mac_x86(acc, w, n_out, stride, x, n_in, 0u);
#endif
    }
}

NNRT_X86_FN void nnrt_mac_s8(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride, const int8_t *x,
                               uint16_t n_in)
{
    if (n_in < 16u || n_in > 16u * NNRT_X86_MAX_BLOCKS) {
        nnrt_mac_s8_portable(acc, w, n_out, stride, x, n_in);
    } else {
        nnrt_mac_x86(acc, w, n_out, stride, (const uint8_t *)x, n_in, 1u);
    }
}

#endif /* NNRT_ARCH_X86_DENSE_H */

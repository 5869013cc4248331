/* nnrt layer kernels and the one weight accessor.
 *
 * Included by generated model code after it defines NNRT_STORAGE, so each model's kernels are
 * compiled with its own accessor and constant layer sizes (the compiler can unroll the 28-pixel
 * rows). Everything here is static: two models with different storage can share a firmware.
 *
 * Semantics (docs/quantization.md, nnmodel/reference.py):
 *   acc  = bias + sum(w * x)                int32, overflow excluded by the compiler's proof
 *   pre  = (acc * M + 2^(S-1)) >> S         round half up, floor shift; no rounding term if S = 0
 *   y    = clamp(pre, lo, hi)               then y = lut[y + 128] for a table activation
 */
#ifndef NNRT_KERNELS_H
#define NNRT_KERNELS_H

#include "nnrt.h"

#define NNRT_STORAGE_MEM 0     /* RAM or memory-mapped flash: plain loads */
#define NNRT_STORAGE_PROGMEM 1 /* AVR program memory (plain memory elsewhere) */
#define NNRT_STORAGE_EEPROM 2  /* AVR EEPROM (a RAM array holding the same image elsewhere) */

#ifndef NNRT_STORAGE
#error "define NNRT_STORAGE before including nnrt_kernels.h (generated code does)"
#endif

/* An address in weight storage: a data pointer, a PROGMEM address or an EEPROM address. */
typedef const uint8_t *nnrt_wptr_t;

#if defined(__AVR__) && NNRT_STORAGE == NNRT_STORAGE_PROGMEM
#include <avr/pgmspace.h>
#define NNRT_RD(p) pgm_read_byte(p)
#elif defined(__AVR__) && NNRT_STORAGE == NNRT_STORAGE_EEPROM
#include <avr/eeprom.h>
#define NNRT_RD(p) eeprom_read_byte(p)
#else
#define NNRT_RD(p) (*(p))
#endif

/* Little-endian signed integer of 1, 2 or 4 bytes from weight storage. */
static inline int32_t nnrt_rd_le(nnrt_wptr_t p, uint8_t nbytes)
{
    uint32_t v = 0;
    uint8_t i;
    for (i = 0; i < nbytes; i++) {
        v |= (uint32_t)NNRT_RD(p + i) << (8u * i);
    }
    if (nbytes < 4 && (v & ((uint32_t)1 << (8u * nbytes - 1u)))) {
        v |= ~(uint32_t)0 << (8u * nbytes); /* sign-extend */
    }
    return (int32_t)v;
}

#if defined(__AVR__)
/* ------------------------------------------------------------------------------------------------
 * AVR (ATtiny85 and friends: no hardware multiplier). Same results as the portable kernels below;
 * what differs is how: weight bytes come through nnrt_rd_fast (EEPROM registers driven inline, not
 * a libc call per byte), an int8 product is a shift-add over the few bits of |w| instead of a
 * __mulhi3 call that always walks 16, zero inputs are skipped, and the 32-bit multiply of
 * requantization walks the 15 bits of M instead of __mulsi3's 32.
 */
#include <avr/io.h>

/* -Os would call these helpers per byte; their bodies are a few instructions. */
#define NNRT_AVR_INLINE static inline __attribute__((always_inline))

#if NNRT_STORAGE == NNRT_STORAGE_EEPROM
/* Wait once for a pending EEPROM write (reads during one return garbage); nothing writes while a
 * kernel runs, so the reads themselves skip the check avr-libc repeats for every byte. */
NNRT_AVR_INLINE void nnrt_rd_open(void)
{
    while (EECR & _BV(EEPE)) {
    }
}
NNRT_AVR_INLINE uint8_t nnrt_rd_fast(nnrt_wptr_t p)
{
#ifdef EEARH
    EEAR = (uint16_t)p;
#else
    EEARL = (uint8_t)(uint16_t)p; /* chips with <= 256 bytes of EEPROM */
#endif
    EECR |= _BV(EERE); /* the CPU halts 4 cycles, then EEDR holds the byte */
    return EEDR;
}
#else
NNRT_AVR_INLINE void nnrt_rd_open(void) {}
#define nnrt_rd_fast(p) NNRT_RD(p)
#endif

/* A stored int8 byte as a value, without an implementation-defined conversion. */
#define NNRT_AVR_S8(byte) ((int16_t)((byte) ^ 0x80u) - 128)

/* Little-endian signed integer of 1, 2 or 4 bytes (constant shifts: byte moves on AVR). */
NNRT_AVR_INLINE int32_t nnrt_rd_le_fast(nnrt_wptr_t p, uint8_t nbytes)
{
    uint32_t v;
    if (nbytes == 1u) {
        return NNRT_AVR_S8(nnrt_rd_fast(p));
    }
    v = nnrt_rd_fast(p) | (uint16_t)nnrt_rd_fast(p + 1) << 8;
    if (nbytes == 2u) {
        return (int32_t)v - (v & 0x8000u ? 0x10000L : 0L);
    }
    v |= (uint32_t)nnrt_rd_fast(p + 2) << 16 | (uint32_t)nnrt_rd_fast(p + 3) << 24;
    return (int32_t)v; /* as nnrt_rd_le: GCC converts modulo 2^32 */
}

static __attribute__((noinline, unused)) void nnrt_bias_s32(int32_t *acc, nnrt_wptr_t bias,
                                                            uint16_t n, uint8_t width)
{
    uint16_t j;
    nnrt_rd_open();
    for (j = 0; j < n; j++, bias += width) {
        acc[j] = nnrt_rd_le_fast(bias, width);
    }
}

/* |w| * a for a stored int8 weight byte wb and a <= 255, by shift-add over |w|'s bits, stopping
 * after the last set one: trained weights are small (|w| ~ 20 in the MNIST models), so this is a
 * few steps. The result is <= 128 * 255 = 32640. *neg is 1 when w < 0, else 0. */
NNRT_AVR_INLINE uint16_t nnrt_avr_mul(uint8_t wb, uint16_t a, uint8_t *neg)
{
    uint16_t p = 0;
    uint8_t m = wb;
    *neg = (uint8_t)(wb >> 7);
    if (*neg) {
        m = (uint8_t)(0u - wb); /* |w|, 128 for -128 */
    }
    for (; m != 0u; m >>= 1, a <<= 1) {
        if (m & 1u) {
            p += a;
        }
    }
    return p;
}

/* acc[0] += sum_i w[i] * x[i] and, if two, acc[1] += sum_i w[stride + i] * x[i], for n >= 1
 * inputs, uint8 pixels if PIX, else int8 (read as bytes: character types may alias anything).
 * Two outputs per pass share each input's load, zero test and the call; out of line, -Os keeps
 * the pointers and both sums in registers. Zero inputs are skipped (their products are 0; most
 * MNIST pixels are 0). Products are |w| * |x| with the sign applied to the 32-bit sum. */
#define NNRT_AVR_DOT(PIX)                                                                          \
    const uint8_t *end = x + n;                                                                    \
    int32_t s0 = 0, s1 = 0;                                                                        \
    do {                                                                                           \
        uint8_t xb = *x++;                                                                         \
        if (xb != 0u) {                                                                            \
            uint8_t xneg = (PIX) ? 0u : (uint8_t)(xb >> 7), wneg; /* 0 or 1 */                    \
            uint16_t a = xneg ? (uint8_t)(0u - xb) : xb, p;                                        \
            p = nnrt_avr_mul(nnrt_rd_fast(w), a, &wneg);                                           \
            if (wneg != xneg) { /* exactly one of w, x negative */                                 \
                s0 -= p;                                                                           \
            } else {                                                                               \
                s0 += p;                                                                           \
            }                                                                                      \
            if (two) {                                                                             \
                p = nnrt_avr_mul(nnrt_rd_fast(w + stride), a, &wneg);                              \
                if (wneg != xneg) {                                                                \
                    s1 -= p;                                                                       \
                } else {                                                                           \
                    s1 += p;                                                                       \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        w++;                                                                                       \
    } while (x != end);                                                                            \
    acc[0] += s0;                                                                                  \
    if (two) {                                                                                     \
        acc[1] += s1;                                                                              \
    }

/* unused: not every model has both kinds of layer (-Wunused-function) */
static __attribute__((noinline, unused)) void nnrt_avr_dot_u8(int32_t *acc, nnrt_wptr_t w,
                                                              uint16_t stride, const uint8_t *x,
                                                              uint16_t n, uint8_t two)
{
    NNRT_AVR_DOT(1)
}

static __attribute__((noinline, unused)) void nnrt_avr_dot_s8(int32_t *acc, nnrt_wptr_t w,
                                                              uint16_t stride, const uint8_t *x,
                                                              uint16_t n, uint8_t two)
{
    NNRT_AVR_DOT(0)
}

static __attribute__((noinline, unused)) void nnrt_mac_u8(int32_t *acc, nnrt_wptr_t w,
                                                          uint16_t n_out, uint16_t stride,
                                                          const uint8_t *x, uint16_t n_in)
{
    uint16_t j;
    nnrt_rd_open();
    for (j = 0; j < n_out && n_in; j += 2u, w += 2u * stride) {
        nnrt_avr_dot_u8(acc + j, w, stride, x, n_in, j + 1u < n_out);
    }
}

static __attribute__((noinline, unused)) void nnrt_mac_s8(int32_t *acc, nnrt_wptr_t w,
                                                          uint16_t n_out, uint16_t stride,
                                                          const int8_t *x, uint16_t n_in)
{
    uint16_t j;
    nnrt_rd_open();
    for (j = 0; j < n_out && n_in; j += 2u, w += 2u * stride) {
        nnrt_avr_dot_s8(acc + j, w, stride, (const uint8_t *)x, n_in, j + 1u < n_out);
    }
}

/* floor(v / 2^s): whole bytes first (register moves), then at most 7 single-bit steps. */
NNRT_AVR_INLINE int32_t nnrt_floor_shift(int32_t v, uint8_t s)
{
    uint32_t flip = v < 0 ? ~(uint32_t)0 : 0u, u = (uint32_t)v ^ flip; /* ~v >> s for v < 0 */
    while (s >= 8u) {
        u >>= 8;
        s -= 8u;
    }
    return (int32_t)((u >> s) ^ flip);
}

/* |a| * m for m <= 32767 by shift-add over m's bits, stopping after the last set one (libgcc's
 * __mulsi3 would loop over 32 bits). */
NNRT_AVR_INLINE uint32_t nnrt_avr_mul_u32_u16(uint32_t a, uint16_t m)
{
    uint32_t p = 0;
    for (; m != 0u; m >>= 1, a <<= 1) {
        if (m & 1u) {
            p += a;
        }
    }
    return p;
}

static inline void nnrt_requant_s8(const int32_t *acc, int8_t *y, uint16_t n, nnrt_wptr_t mult,
                                   nnrt_wptr_t shift, uint8_t per_channel, int8_t lo, int8_t hi,
                                   nnrt_wptr_t lut)
{
    uint16_t j, m;
    uint8_t s;
    nnrt_rd_open();
    m = (uint16_t)nnrt_rd_le_fast(mult, 2);
    s = nnrt_rd_fast(shift);
    for (j = 0; j < n; j++) {
        int32_t v = acc[j];
        uint32_t p;
        if (per_channel) {
            m = (uint16_t)nnrt_rd_le_fast(mult + 2u * j, 2);
            s = nnrt_rd_fast(shift + j);
        }
        /* proven: |acc * M| + 2^(S-1) <= INT32_MAX, so p and -p fit */
        p = nnrt_avr_mul_u32_u16(v < 0 ? 0u - (uint32_t)v : (uint32_t)v, m);
        v = v < 0 ? -(int32_t)p : (int32_t)p;
        if (s) {
            v = nnrt_floor_shift(v + ((int32_t)1 << (s - 1u)), s);
        }
        v = v < lo ? lo : v > hi ? hi : v;
        y[j] = lut ? (int8_t)nnrt_rd_fast(lut + (uint8_t)(v + 128)) : (int8_t)v;
    }
}

#else /* portable C */
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

/* acc[j] += sum_i w[j*stride + i] * x[i] for uint8 inputs (image pixels); int8 * uint8 fits int16
 * (|w*x| <= 32640). Zero pixels add nothing, and most MNIST pixels are 0: each chunk of inputs
 * is listed once as (offset, value) of its nonzero pixels, and every output walks only that list,
 * four outputs per pass so each list entry is loaded once for four. The products are ints (no
 * int16 truncation step): they fit int16, so this is the same value on 16-bit-int targets. */
static inline void nnrt_mac_u8(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
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
static inline void nnrt_mac_s8(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
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

/* floor(v / 2^s) without relying on >> of a negative value (implementation-defined in C99). */
static inline int32_t nnrt_floor_shift(int32_t v, uint8_t s)
{
    return v >= 0 ? (int32_t)((uint32_t)v >> s) : (int32_t) ~(~(uint32_t)v >> s);
}

/* y[j] = act(requant(acc[j])). Multipliers (LE16) and shifts (1 byte) are per channel when
 * per_channel is set, else one pair for all. lut == NULL means no table. */
static inline void nnrt_requant_s8(const int32_t *acc, int8_t *y, uint16_t n, nnrt_wptr_t mult,
                            nnrt_wptr_t shift, uint8_t per_channel, int8_t lo, int8_t hi,
                            nnrt_wptr_t lut)
{
    uint16_t j;
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

#endif /* __AVR__ */

/* Check a stored model image (header + payload) before any inference. */
static inline nnrt_status_t nnrt_image_check(nnrt_wptr_t image, uint16_t payload_len, uint32_t hash)
{
    uint16_t crc = 0xFFFFu, i, stored;
    if (NNRT_RD(image) != NNRT_IMAGE_MAGIC0 || NNRT_RD(image + 1) != NNRT_IMAGE_MAGIC1) {
        return NNRT_ERR_MISSING;
    }
    if (NNRT_RD(image + 2) != NNRT_IMAGE_VERSION) {
        return NNRT_ERR_VERSION;
    }
    if ((uint16_t)nnrt_rd_le(image + 4, 2) != payload_len) {
        return NNRT_ERR_LENGTH;
    }
    for (i = 0; i < 10u; i++) {
        crc = nnrt_crc16_update(crc, NNRT_RD(image + i));
    }
    for (i = 0; i < payload_len; i++) {
        crc = nnrt_crc16_update(crc, NNRT_RD(image + NNRT_IMAGE_HEADER_BYTES + i));
    }
    stored = (uint16_t)nnrt_rd_le(image + 10, 2);
    if (crc != stored) {
        return NNRT_ERR_CORRUPT;
    }
    /* Hash last: an intact image of another model is "stale", a damaged one "corrupt". */
    if ((uint32_t)nnrt_rd_le(image + 6, 4) != hash) {
        return NNRT_ERR_STALE;
    }
    return NNRT_OK;
}

#endif /* NNRT_KERNELS_H */

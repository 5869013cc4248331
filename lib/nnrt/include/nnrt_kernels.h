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

/* acc[j] = bias[j], biases stored `width` bytes each. */
static inline void nnrt_bias_s32(int32_t *acc, nnrt_wptr_t bias, uint16_t n, uint8_t width)
{
    uint16_t j;
    for (j = 0; j < n; j++) {
        acc[j] = nnrt_rd_le(bias + (uint32_t)j * width, width);
    }
}

/* acc[j] += sum_i w[j*stride + i] * x[i] for uint8 inputs (image pixels).
 * int8 * uint8 fits int16 (|w*x| <= 32640), so on AVR the product is one 16-bit multiply. */
static inline void nnrt_mac_u8(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                        const uint8_t *x, uint16_t n_in)
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

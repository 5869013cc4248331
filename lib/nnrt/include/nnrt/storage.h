/* nnrt weight storage: the one accessor every kernel reads weights through.
 *
 * Generated model code defines NNRT_STORAGE (RAM/flash, AVR PROGMEM or AVR EEPROM) before it
 * includes any kernel header, so each model's kernels are compiled with its own accessor and
 * constant layer sizes. Everything here is static: two models with different storage can share
 * a firmware (one translation unit each).
 */
#ifndef NNRT_STORAGE_H
#define NNRT_STORAGE_H

#include <stddef.h>

#include "nnrt.h"

#define NNRT_STORAGE_MEM 0     /* RAM or memory-mapped flash: plain loads */
#define NNRT_STORAGE_PROGMEM 1 /* AVR or ESP8266 program memory (plain memory elsewhere) */
#define NNRT_STORAGE_EEPROM 2  /* AVR EEPROM (a RAM array holding the same image elsewhere) */

/* NNRT_INLINE: always inlined (constant arguments fold; parameter structs vanish). NNRT_FN: out
 * of line, one copy for all callers and a shallow stack (the ATtiny85's 512 B of SRAM hold the
 * line buffers and the stack). Both may go unused: a model uses only some kernels. */
#if defined(__GNUC__)
#define NNRT_INLINE static inline __attribute__((always_inline, unused))
#define NNRT_FN static __attribute__((noinline, unused))
#else
#define NNRT_INLINE static inline
#define NNRT_FN static
#endif

/* The generated stage functions of a map front (conv rows, pools of the image) and the conv row
 * functions: out of line on AVR (one frame on the stack at a time), inlined elsewhere. Here, not in
 * nnrt/ops/conv2d.h: a front of pools alone includes only nnrt/ops/maxpool2d.h. */
#if defined(__AVR__)
#define NNRT_CONV_FN NNRT_FN
#else
#define NNRT_CONV_FN NNRT_INLINE
#endif

#ifndef NNRT_STORAGE
#error "define NNRT_STORAGE before including an nnrt kernel header (generated code does)"
#endif

/* An address in weight storage: a data pointer, a PROGMEM address or an EEPROM address. */
typedef const uint8_t *nnrt_wptr_t;

#if defined(__AVR__) && NNRT_STORAGE == NNRT_STORAGE_PROGMEM
#include <avr/pgmspace.h>
#define NNRT_RD(p) pgm_read_byte(p)
#elif (defined(ESP8266) || defined(ARDUINO_ARCH_ESP8266)) && NNRT_STORAGE == NNRT_STORAGE_PROGMEM
/* The ESP8266 reads flash only by aligned 32-bit words: its core's pgm_read_byte does that. */
#include <pgmspace.h>
#define NNRT_RD(p) pgm_read_byte(p)
#elif defined(__AVR__) && NNRT_STORAGE == NNRT_STORAGE_EEPROM
#include <avr/eeprom.h>
#define NNRT_RD(p) eeprom_read_byte(p)
#else
#define NNRT_RD(p) (*(p))
#endif

/* Little-endian signed integer of 1, 2 or 4 bytes from weight storage. Always inlined on GCC: the
 * conv row functions that read biases stay leaves (a shallow stack on AVR). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
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
#include "nnrt/arch/avr/storage.h" /* nnrt_rd_open / nnrt_rd_fast and the asm read macros */
#endif

/* Little-endian unsigned integer of n <= 4 bytes from weight storage (header fields). */
static inline uint32_t nnrt_rd_u(nnrt_wptr_t p, uint8_t n)
{
    uint32_t v = 0;
    while (n != 0u) {
        n--;
        v = v << 8 | NNRT_RD(p + n);
    }
    return v;
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
    if (nnrt_rd_u(image + 4, 2) != payload_len) {
        return NNRT_ERR_LENGTH;
    }
    for (i = 0; i < 10u; i++) {
        crc = nnrt_crc16_update(crc, NNRT_RD(image + i));
    }
    for (i = 0; i < payload_len; i++) {
        crc = nnrt_crc16_update(crc, NNRT_RD(image + NNRT_IMAGE_HEADER_BYTES + i));
    }
    stored = (uint16_t)nnrt_rd_u(image + 10, 2);
    if (crc != stored) {
        return NNRT_ERR_CORRUPT;
    }
    /* Hash last: an intact image of another model is "stale", a damaged one "corrupt". */
    if (nnrt_rd_u(image + 6, 4) != hash) {
        return NNRT_ERR_STALE;
    }
    return NNRT_OK;
}

#endif /* NNRT_STORAGE_H */

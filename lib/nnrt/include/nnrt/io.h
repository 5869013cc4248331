/* nnrt real-valued I/O: raw firmware integers to the network's uint8 codes, int32 outputs to
 * integers in a declared unit. Integer-only: one 64-bit product per value, no float.
 *
 * Each conversion is a record of NNRT_IO_RECORD bytes: a multiplier M (LE32, 2^30..2^31-1), a
 * shift S (6..62) and an offset Z (LE16), so that M / 2^S is the ratio of the two units and
 *     fixmul(v) = (v·M + 2^(S-1)) >> S               (round half up, arithmetic shift)
 * Codes are clamp(fixmul(raw) + Z, 0, 255); outputs clamp(fixmul(logit), INT32 range), Z = 0.
 * nnmodel.realvalues is the specification; the tables live in program memory on AVR and ESP8266.
 */
#ifndef NNRT_IO_H
#define NNRT_IO_H

#include <stddef.h>
#include <stdint.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define NNRT_IO_CONST PROGMEM
#define NNRT_IO_RD(p) pgm_read_byte(p)
#elif defined(ESP8266) || defined(ARDUINO_ARCH_ESP8266)
#include <pgmspace.h>
#define NNRT_IO_CONST PROGMEM
#define NNRT_IO_RD(p) pgm_read_byte(p)
#else
#define NNRT_IO_CONST
#define NNRT_IO_RD(p) (*(p))
#endif

#define NNRT_IO_RECORD 7u

/* Little-endian signed integer of 2 or 4 bytes from a conversion table. */
static inline int32_t nnrt_io_le(const uint8_t *p, uint8_t nbytes)
{
    uint32_t v = 0;
    uint8_t i;
    for (i = 0; i < nbytes; i++) {
        v |= (uint32_t)NNRT_IO_RD(p + i) << (8u * i);
    }
    if (nbytes == 2u && (v & 0x8000u)) {
        v |= 0xFFFF0000u;
    }
    return (int32_t)v;
}

/* Out of line under GCC: one copy of the 64-bit product for feed_raw and output (~0.5 KB on AVR). */
#if defined(__GNUC__)
__attribute__((noinline, unused))
#endif
static int64_t nnrt_fixmul(int32_t v, const uint8_t *record)
{
    uint8_t s = NNRT_IO_RD(record + 4);
    return ((int64_t)v * nnrt_io_le(record, 4) + ((int64_t)1 << (s - 1u))) >> s;
}

/* codes[i] = clamp(fixmul(raw[i]) + Z, 0, 255) with feature i mod n_features's record. */
static inline void nnrt_codes_from_raw(const int32_t *raw, uint8_t *codes, uint16_t n, const uint8_t *table,
                                       uint16_t n_features)
{
    uint16_t i, f = 0;
    for (i = 0; i < n; i++) {
        const uint8_t *record = table + (size_t)f * NNRT_IO_RECORD;
        int64_t q = nnrt_fixmul(raw[i], record) + nnrt_io_le(record + 5, 2);
        codes[i] = (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
        if (++f == n_features) {
            f = 0;
        }
    }
}

/* An int32 output in steps of its unit, saturated. */
static inline int32_t nnrt_output_fixed(int32_t v, const uint8_t *record)
{
    int64_t y = nnrt_fixmul(v, record);
    return y < INT32_MIN ? INT32_MIN : (y > INT32_MAX ? INT32_MAX : (int32_t)y);
}

#endif /* NNRT_IO_H */

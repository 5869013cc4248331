/* AVR dot products of packed int4 weights (no hardware multiplier), included by
 * nnrt/arch/avr/dense.h.
 *
 * The kernel itself is assembly, lib/nnrt/src/arch/avr/nnrt_avr_w4.S (why, how and its registers are
 * described there): bit-plane sums, ~18 cycles per nonzero input and ~6 per zero one, no
 * multiplies, a 23-byte stack frame. One entry point per weight storage; the build's garbage
 * collection keeps the one the model uses. Proven against plain arithmetic for every nibble x
 * every byte in both halves of a weight byte, the planes' limits and random pooling windows
 * (test/attiny85/test_w4).
 */
#ifndef NNRT_ARCH_AVR_W4_H
#define NNRT_ARCH_AVR_W4_H

#define NNRT_AVR_POOL_W4_DECL(name)                                                                       \
    int32_t name(nnrt_wptr_t w, uint16_t t, const uint8_t *const *rows, uint16_t off, uint8_t k, uint8_t n, \
                 uint8_t step, uint8_t pw, uint8_t flags)
NNRT_AVR_POOL_W4_DECL(nnrt_avr_pool_w4_ee_u8);
NNRT_AVR_POOL_W4_DECL(nnrt_avr_pool_w4_ee_s8);
NNRT_AVR_POOL_W4_DECL(nnrt_avr_pool_w4_pgm_u8);
NNRT_AVR_POOL_W4_DECL(nnrt_avr_pool_w4_pgm_s8);
NNRT_AVR_POOL_W4_DECL(nnrt_avr_pool_w4_ram_u8);
NNRT_AVR_POOL_W4_DECL(nnrt_avr_pool_w4_ram_s8);
#if NNRT_STORAGE == NNRT_STORAGE_EEPROM
#define NNRT_AVR_POOL_W4_U8 nnrt_avr_pool_w4_ee_u8
#define NNRT_AVR_POOL_W4_S8 nnrt_avr_pool_w4_ee_s8
#elif NNRT_STORAGE == NNRT_STORAGE_PROGMEM
#define NNRT_AVR_POOL_W4_U8 nnrt_avr_pool_w4_pgm_u8
#define NNRT_AVR_POOL_W4_S8 nnrt_avr_pool_w4_pgm_s8
#else
#define NNRT_AVR_POOL_W4_U8 nnrt_avr_pool_w4_ram_u8
#define NNRT_AVR_POOL_W4_S8 nnrt_avr_pool_w4_ram_s8
#endif

/* The kernel's flags: ph in bits 4..7, int8 inputs (bit 1), and bit 3 when |sum| <= 8 |x| k n
 * < 2^15 whatever the inputs, so the planes combine in 16 bits. */
#define NNRT_AVR_W4_FLAGS(k, n, ph, sx) \
    ((uint8_t)((ph) << 4 | ((sx) ? 2u : 0u) | ((uint16_t)(k) * (n) <= ((sx) ? 31u : 16u) ? 8u : 0u)))

/* The max over ph x pw neighbouring conv outputs of one output channel whose k*n weights start at
 * nibble t of w: output (dy, dx) reads n inputs at rows[dy + s] + off + dx * step from each of its
 * k rows s (a pooling window; 1 x 1 for a plain dot product); uint8 inputs, or int8 if sx.
 * 1 <= k, 1 <= n, k n <= 257 (uint8) or 255 (int8), 1 <= ph <= 15, 1 <= pw. */
NNRT_AVR_INLINE int32_t nnrt_pool_w4(nnrt_wptr_t w, uint16_t t, const uint8_t *const *rows, uint16_t off,
                                     uint8_t k, uint8_t n, uint8_t step, uint8_t ph, uint8_t pw, uint8_t sx)
{
    const uint8_t flags = NNRT_AVR_W4_FLAGS(k, n, ph, sx);
    return sx ? NNRT_AVR_POOL_W4_S8(w, t, rows, off, k, n, step, pw, flags)
              : NNRT_AVR_POOL_W4_U8(w, t, rows, off, k, n, step, pw, flags);
}

/* 1 when some byte of the p + k - 1 rows' window columns [off, off + len) is nonzero. */
static __attribute__((noinline, unused)) uint8_t nnrt_any_nonzero(const uint8_t *const *rows, uint8_t n_rows,
                                                                 uint16_t off, uint8_t len)
{
    uint8_t any = 0, i;
    for (; n_rows != 0u; n_rows--, rows++) {
        const uint8_t *x = *rows + off;
        for (i = len; i != 0u; i--) {
            any |= *x++;
        }
    }
    return any != 0u;
}

#endif /* NNRT_ARCH_AVR_W4_H */

/* AVR weight reads for the asm kernels (ATtiny85 and friends). Included by nnrt/storage.h.
 *
 * EEPROM: the kernels drive the EEPROM registers inline (nnrt_rd_fast, NNRT_AVR_RD_ASM) after one
 * wait for a pending write (nnrt_rd_open); program memory reads through lpm, RAM through ld.
 * Registers are allocated by GCC through operands; labels are numeric locals.
 */
#ifndef NNRT_ARCH_AVR_STORAGE_H
#define NNRT_ARCH_AVR_STORAGE_H

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
/* The same in the asm below: %[pl] = the byte at EEPROM address %[wa] (any register pair). */
#ifdef EEARH
#define NNRT_AVR_RD_ASM "out %[eearh], %B[wa]\n\t" "out %[eearl], %A[wa]\n\t" \
                        "sbi %[eecr], %[eere]\n\t" "in %[pl], %[eedr]\n\t"
#define NNRT_AVR_EEARH_OPERAND , [eearh] "I"(_SFR_IO_ADDR(EEARH))
#else
#define NNRT_AVR_RD_ASM "out %[eearl], %A[wa]\n\t" "sbi %[eecr], %[eere]\n\t" "in %[pl], %[eedr]\n\t"
#define NNRT_AVR_EEARH_OPERAND
#endif
#define NNRT_AVR_WA "=&r"
#define NNRT_AVR_WA_RW "+w"
#define NNRT_AVR_RD_OPERANDS , [eearl] "I"(_SFR_IO_ADDR(EEARL)), [eecr] "I"(_SFR_IO_ADDR(EECR)), \
    [eere] "I"(EERE), [eedr] "I"(_SFR_IO_ADDR(EEDR)) NNRT_AVR_EEARH_OPERAND
#else
NNRT_AVR_INLINE void nnrt_rd_open(void) {}
#define nnrt_rd_fast(p) NNRT_RD(p)
/* %[wa] is Z: program memory through lpm, RAM through ld */
#if NNRT_STORAGE == NNRT_STORAGE_PROGMEM
#define NNRT_AVR_RD_ASM "lpm %[pl], Z\n\t"
#else
#define NNRT_AVR_RD_ASM "ld %[pl], Z\n\t"
#endif
#define NNRT_AVR_WA "=&z"
#define NNRT_AVR_WA_RW "+z"
#define NNRT_AVR_RD_OPERANDS
#endif

#endif /* NNRT_ARCH_AVR_STORAGE_H */

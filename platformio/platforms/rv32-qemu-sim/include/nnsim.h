/*
 * nnsim.h (rv32-qemu-sim) — firmware side of the QEMU `virt` RV32IMC simulator.
 * Same API on all three in-repo platforms (see tinyavr-sim's nnsim.h).
 *
 * Output goes through picolibc's semihosting stdio; returning from main ends
 * QEMU with main's return value. Costs are retired instructions (minstret):
 * exact only because QEMU runs with `-icount shift=0`; real ESP32-C3 timing
 * (caches, flash wait states) is not modelled.
 */
#ifndef NNSIM_H
#define NNSIM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NNSIM_RV32 1
#define NNSIM_HAS_COST 1
#define NNSIM_COST_UNIT "instructions"

static inline void nnsim_putc(char c) { putchar(c); }
/* stdout into a pipe is fully buffered: flush so output written before a
 * hang or crash is not lost. */
static inline void nnsim_flush(void) { fflush(stdout); }
static inline void nnsim_puts(const char *s) { fputs(s, stdout); }
static inline void nnsim_puts_P(const char *s) { fputs(s, stdout); } /* flat memory */
static inline void nnsim_putu32(uint32_t v) { printf("%lu", (unsigned long)v); }
static inline void nnsim_puti32(int32_t v) { printf("%ld", (long)v); }

/* minstret needs Zicsr; -march=rv32imc_zicsr would break multilib selection,
 * so the platform uses -misa-spec=2.2 where csrr is part of the base ISA. */
static inline uint32_t nnsim_minstret(void)
{
    uint32_t v;
    __asm__ __volatile__("csrr %0, minstret" : "=r"(v)::"memory");
    return v;
}

typedef uint32_t nnsim_mark_t;

/* Instructions retired between begin and end; the closing csrr itself (1)
 * is removed so an empty region reports 0. Regions may nest. */
static inline nnsim_mark_t nnsim_region_begin(void) { return nnsim_minstret(); }
static inline uint32_t nnsim_region_end(nnsim_mark_t m) { return nnsim_minstret() - m - 1u; }

/* Stack high-water mark: paint the free RAM between the end of .bss and the
 * current stack pointer, later find the lowest word that changed. */
#define NNSIM__PAINT 0xA5A5A5A5u
extern uint32_t __end[];   /* picolibc.ld: end of .bss (heap start) */
extern uint32_t __stack[]; /* picolibc.ld: initial stack pointer */

static inline uintptr_t nnsim__sp(void)
{
    uintptr_t sp;
    __asm__ __volatile__("mv %0, sp" : "=r"(sp));
    return sp;
}

static inline void nnsim_stack_repaint(void)
{
    volatile uint32_t *p = __end;
    volatile uint32_t *stop = (volatile uint32_t *)((nnsim__sp() - 64u) & ~(uintptr_t)3u);
    while (p < stop) *p++ = NNSIM__PAINT;
}

/* Call nnsim_stack_repaint() first: QEMU starts with zeroed RAM, not paint. */
static inline uint32_t nnsim_stack_used(void)
{
    const volatile uint32_t *p = __end;
    while (p < (const volatile uint32_t *)__stack && *p == NNSIM__PAINT) p++;
    return (uint32_t)((uintptr_t)__stack - (uintptr_t)p);
}

static inline void nnsim_exit(uint8_t code) { exit(code); }

#endif /* NNSIM_H */

/* RV32IMC part of bench_driver.c: picolibc, QEMU `virt` with -icount shift=0, so that minstret
 * counts retired instructions exactly. Self-contained rather than the rv32-qemu-sim platform's
 * nnsim.h (the same counter): the RV32 bench also runs from an installed wheel, without the
 * checkout's platform files. */
#ifndef BENCH_RV32_H
#define BENCH_RV32_H

#include <stdint.h>

extern uint32_t __end[]; /* picolibc.ld: end of .bss, where free RAM (and the stack's floor) starts */

static inline uint32_t bench_instret(void)
{
    uint32_t v;
    __asm__ __volatile__("csrr %0, minstret" : "=r"(v)::"memory");
    return v;
}

typedef uint32_t bench_mark_t;

static inline bench_mark_t bench_region_begin(void) { return bench_instret(); }

/* "- 1" drops the closing csrr: an empty region is 0. */
static inline uint32_t bench_region_end(bench_mark_t m) { return bench_instret() - m - 1u; }

static inline uintptr_t bench_sp(void)
{
    uintptr_t sp;
    __asm__ __volatile__("mv %0, sp" : "=r"(sp));
    return sp;
}

static inline volatile uint32_t *bench_ram_floor(void) { return __end; }

#endif /* BENCH_RV32_H */

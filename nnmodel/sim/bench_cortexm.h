/* Cortex-M4 part of bench_driver.c: newlib, QEMU mps2-an386 with -icount shift=7. The counter,
 * the stack pointer and the heap's end come from the cortexm-qemu-sim platform's nnsim.h (on the
 * include path, hence a checkout), which proves the counts exact. */
#ifndef BENCH_CORTEXM_H
#define BENCH_CORTEXM_H

#include <stdint.h>

#include "nnsim.h"

typedef nnsim_mark_t bench_mark_t;

static inline bench_mark_t bench_region_begin(void) { return nnsim_region_begin(); }

/* The closing counter read is removed by nnsim.h: an empty region is 0. */
static inline uint32_t bench_region_end(bench_mark_t m) { return nnsim_region_end(m); }

static inline uintptr_t bench_sp(void) { return nnsim__sp(); }

/* Free RAM starts at the heap's end, not at the end of .bss: painting newlib's heap would
 * corrupt malloc's blocks. */
static inline volatile uint32_t *bench_ram_floor(void) { return nnsim__heap_end(); }

#endif /* BENCH_CORTEXM_H */

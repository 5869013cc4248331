/*
 * nnsim.h (nnmodel-native) — host build of the simulator API shared by the
 * in-repo platforms (see tinyavr-sim's nnsim.h). The host has no exact cost
 * counter or stack paint, so those report 0 (NNSIM_HAS_COST is 0).
 */
#ifndef NNSIM_H
#define NNSIM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NNSIM_NATIVE 1
#define NNSIM_HAS_COST 0
#define NNSIM_COST_UNIT "none"

static inline void nnsim_putc(char c) { putchar(c); }
/* stdout into a pipe is fully buffered: flush so output written before a
 * hang or crash is not lost. */
static inline void nnsim_flush(void) { fflush(stdout); }
static inline void nnsim_puts(const char *s) { fputs(s, stdout); }
static inline void nnsim_puts_P(const char *s) { fputs(s, stdout); }
static inline void nnsim_putu32(uint32_t v) { printf("%lu", (unsigned long)v); }
static inline void nnsim_puti32(int32_t v) { printf("%ld", (long)v); }

typedef uint32_t nnsim_mark_t;
static inline nnsim_mark_t nnsim_region_begin(void) { return 0; }
static inline uint32_t nnsim_region_end(nnsim_mark_t m) { return m; }
static inline void nnsim_stack_repaint(void) {}
static inline uint32_t nnsim_stack_used(void) { return 0; }

static inline void nnsim_exit(uint8_t code)
{
    fflush(stdout);
    exit(code);
}

#endif /* NNSIM_H */

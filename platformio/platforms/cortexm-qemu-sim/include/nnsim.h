/*
 * nnsim.h (cortexm-qemu-sim) — firmware side of the Cortex-M4 simulator, QEMU mps2-an386.
 * Same API on all in-repo platforms (see tinyavr-sim's nnsim.h).
 *
 * Output goes through newlib's semihosting stdio (librdimon); main's return value becomes QEMU's
 * exit status (startup/nnsim_startup.c). Costs are executed instructions, exact as proved below;
 * real Cortex-M4 timing (pipeline, flash wait states, multi-cycle loads) is not modelled.
 *
 * Counting instructions. The Cortex-M4 has no instret counter, and QEMU 7.2 does not emulate the
 * DWT (DWT_CYCCNT reads 0 even with DEMCR.TRCENA and CYCCNTENA set). What it does emulate is the
 * AN386 FPGAIO COUNTER (0x40028018): 32 bits, counting up at 25 MHz from reset (PRESCALE 0),
 * computed from QEMU's virtual clock as floor(t / 40 ns) with no drift (mps2-fpgaio.c advances
 * its sync point by ticks * 40 ns exactly). With `-icount shift=S` the virtual clock advances
 * 2^S ns per executed instruction, and QEMU makes an instruction that touches I/O the last of
 * its translation block, so the clock a counter read sees counts exactly the instructions
 * before it, whatever the code. At shift=0 one tick spans 40 instructions: useless. At S = 7
 * (the platform's choice) one instruction spans 128 / 40 = 3.2 ticks. Two reads n
 * instructions apart differ by
 *     d = floor(x + 3.2 n) - floor(x)   for some phase x,   so   3.2 n - 1 < d < 3.2 n + 1,
 * hence |d / 3.2 - n| < 1 / 3.2 = 0.3125 < 1/2 and n = round(d / 3.2) = (5 d + 8) / 16 exactly,
 * for any phase, as long as d does not wrap 2^32 (n < 1.3e9). S = 6 (1.6 ticks) would leave
 * |d / 1.6 - n| < 0.625, ambiguous; so 7 is the smallest exact shift. test/cortexm/test_sim
 * checks both the model (16 n - 5 < 5 d < 16 n + 5) and the count for every straight-line run
 * of 0..1000 instructions, 16-bit and 32-bit ones, each at its own phase. (An instruction
 * skipped by an IT block still counts: QEMU counts what it executes, as the core issues it.)
 */
#ifndef NNSIM_H
#define NNSIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NNSIM_CORTEXM 1
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

/* FPGAIO COUNTER in 25 MHz ticks. One fixed asm sequence (address, then the load), so every
 * read costs the same three instructions wherever the compiler puts it. */
static inline uint32_t nnsim_ticks(void)
{
    uint32_t v;
    __asm__ __volatile__("movw %0, #0x8018\n\tmovt %0, #0x4002\n\tldr %0, [%0]" : "=r"(v)::"memory");
    return v;
}

/* Instructions between two nnsim_ticks() reads d ticks apart: round(d / 3.2) (see above). */
static inline uint32_t nnsim_ticks_to_instructions(uint32_t d)
{
    return (uint32_t)(((uint64_t)d * 5u + 8u) >> 4);
}

typedef uint32_t nnsim_mark_t;

/* Instructions executed between begin and end; the closing read's three instructions are
 * removed so an empty region reports 0. Regions may nest. */
static inline nnsim_mark_t nnsim_region_begin(void) { return nnsim_ticks(); }
static inline uint32_t nnsim_region_end(nnsim_mark_t m)
{
    return nnsim_ticks_to_instructions(nnsim_ticks() - m) - 3u;
}

/* Stack high-water mark: paint the free RAM between the heap's end and the current stack
 * pointer, later find the lowest word that changed. The heap (newlib's stdio buffers, from
 * `end` up) is left alone: painting it would corrupt malloc's blocks. */
#define NNSIM__PAINT 0xA5A5A5A5u
extern uint32_t __stack[]; /* mps2_an386.ld: top of RAM, the initial stack pointer */
extern void *_sbrk(ptrdiff_t incr);

static inline uintptr_t nnsim__sp(void)
{
    uintptr_t sp;
    __asm__ __volatile__("mov %0, sp" : "=r"(sp));
    return sp;
}

static inline volatile uint32_t *nnsim__heap_end(void)
{
    return (volatile uint32_t *)(((uintptr_t)_sbrk(0) + 3u) & ~(uintptr_t)3u);
}

static inline void nnsim_stack_repaint(void)
{
    volatile uint32_t *p = nnsim__heap_end();
    volatile uint32_t *stop = (volatile uint32_t *)((nnsim__sp() - 64u) & ~(uintptr_t)3u);
    while (p < stop) *p++ = NNSIM__PAINT;
}

/* Call nnsim_stack_repaint() first: QEMU starts with zeroed RAM, not paint. */
static inline uint32_t nnsim_stack_used(void)
{
    const volatile uint32_t *p = nnsim__heap_end();
    while (p < (const volatile uint32_t *)__stack && *p == NNSIM__PAINT) p++;
    return (uint32_t)((uintptr_t)__stack - (uintptr_t)p);
}

static inline void nnsim_exit(uint8_t code) { exit(code); }

#endif /* NNSIM_H */

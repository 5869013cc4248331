/*
 * nnsim.h (tinyavr-sim) — firmware side of platformio/sim/simavr_run.c.
 * Same API on all three in-repo platforms (nnmodel-native, tinyavr-sim,
 * rv32-qemu-sim) so tests and benchmarks are written once.
 *
 * The "hardware" is three spare I/O registers that simavr_run watches; on a
 * real chip the writes are harmless, but this header is meant for sim builds.
 */
#ifndef NNSIM_H
#define NNSIM_H

#include <avr/io.h>
#include <avr/pgmspace.h>
#include <stdint.h>

#define NNSIM_AVR 1
#define NNSIM_HAS_COST 1
#define NNSIM_COST_UNIT "cycles" /* exact CPU cycles, marker overhead removed */

static inline void nnsim_putc(char c) { GPIOR0 = (uint8_t)c; }
static inline void nnsim_flush(void) {} /* the harness writes through */

static inline void nnsim_puts(const char *s)
{
    while (*s) nnsim_putc(*s++);
}

/* String in flash (PSTR / PROGMEM): keeps the 512 B of SRAM free. */
static inline void nnsim_puts_P(const char *s)
{
    char c;
    while ((c = (char)pgm_read_byte(s++)) != 0) nnsim_putc(c);
}

static inline void nnsim_putu32(uint32_t v)
{
    char buf[10];
    uint8_t n = 0;
    do { buf[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (n) nnsim_putc(buf[--n]);
}

static inline void nnsim_puti32(int32_t v)
{
    if (v < 0) { nnsim_putc('-'); nnsim_putu32(0u - (uint32_t)v); }
    else nnsim_putu32((uint32_t)v);
}

/* The harness latches a 32-bit answer after a command; read it LSB first. */
static inline uint32_t nnsim__read32(void)
{
    uint32_t v = GPIOR1;
    v |= (uint32_t)GPIOR1 << 8;
    v |= (uint32_t)GPIOR1 << 16;
    v |= (uint32_t)GPIOR1 << 24;
    return v;
}

static inline void nnsim__cmd(uint8_t c)
{
    /* asm with a memory clobber: the compiler may not move loads/stores
     * across a region marker. */
    __asm__ __volatile__("out %0, %1" ::"I"(_SFR_IO_ADDR(GPIOR1)), "r"(c) : "memory");
}

typedef uint32_t nnsim_mark_t;

/* Exact cycles between begin and end (0 for an empty region). Regions do not
 * nest on AVR: the harness keeps one start mark. Keep results observable
 * (store them to a volatile or print them) or -Os may move work out. */
static inline nnsim_mark_t nnsim_region_begin(void)
{
    nnsim__cmd(1);
    return 0;
}

static inline uint32_t nnsim_region_end(nnsim_mark_t m)
{
    (void)m;
    /* Command 0 from r1 (__zero_reg__): no `ldi` inside the region. */
    __asm__ __volatile__("out %0, __zero_reg__" ::"I"(_SFR_IO_ADDR(GPIOR1)) : "memory");
    return nnsim__read32();
}

/* Stack high-water mark in bytes since reset or the last repaint. The
 * harness paints free SRAM before reset and scans it; no firmware code. */
static inline void nnsim_stack_repaint(void) { nnsim__cmd(4); }

static inline uint32_t nnsim_stack_used(void)
{
    nnsim__cmd(3);
    return nnsim__read32();
}

/* Stops the simulation with this exit code (returning from main does too). */
static inline void nnsim_exit(uint8_t code)
{
    GPIOR2 = code;
    for (;;) {
    }
}

#endif /* NNSIM_H */

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

/* ---- tinyavr-sim only (NNSIM_HAS_INPUT, NNSIM_HAS_LED, NNSIM_HAS_ANALOG): the other platforms
 * lack them. */
#define NNSIM_HAS_INPUT 1
#define NNSIM_HAS_LED 1
#define NNSIM_HAS_ANALOG 1

/* Input stream: the file given to simavr_run -in, read in order (0 after its end). Lets a
 * test feed more data than 8 KB of flash could hold. */
static inline uint8_t nnsim_in_byte(void) { return GPIOR0; }

static inline void nnsim_in_read(uint8_t *buf, uint16_t n)
{
    while (n--) *buf++ = GPIOR0;
}

static inline uint32_t nnsim_in_left(void)
{
    nnsim__cmd(5);
    return nnsim__read32();
}

static inline void nnsim_in_rewind(void) { nnsim__cmd(10); }

/* LED observer on PB1: the harness logs each pulse (rising then falling edge) with its
 * on-time and the off-time before it, in cycles. */
static inline void nnsim_led_clear(void) { nnsim__cmd(6); }

static inline uint32_t nnsim_led_pulses(void)
{
    nnsim__cmd(7);
    return nnsim__read32();
}

/* Oldest pulse not popped yet: returns its on-time (0: none left) and stores the off-time
 * that preceded it in *off_before (may be NULL). */
static inline uint32_t nnsim_led_pop(uint32_t *off_before)
{
    uint32_t on;
    nnsim__cmd(8);
    on = nnsim__read32();
    if (off_before) {
        nnsim__cmd(9);
        *off_before = nnsim__read32();
    }
    return on;
}

/* Analog inputs: simavr_run's -adc scenarios (millivolts on ADC pins and the temperature sensor),
 * read with the ADC's own registers. The first is applied at reset; this applies the next one and
 * returns 1, or 0 when none is left (the inputs keep their values). */
static inline uint8_t nnsim_analog_next(void)
{
    nnsim__cmd(11);
    return (uint8_t)nnsim__read32();
}

/* Stops the simulation with this exit code (returning from main does too). */
static inline void nnsim_exit(uint8_t code)
{
    GPIOR2 = code;
    for (;;) {
    }
}

#endif /* NNSIM_H */

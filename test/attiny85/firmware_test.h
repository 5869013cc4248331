/* Helpers shared by the suites that run the ATtiny85 firmware (src/attiny85/app.c, linked in by
 * test_build_src) in simavr: the -in stream of digits and reference logits (custom_nnmodel_stream)
 * as a row source, and LED pulse checks. Two suites rather than one: with the model, each must
 * fit in 8 KB of flash. static inline: a suite that does not use one gets no warning. */
#ifndef FIRMWARE_TEST_H
#define FIRMWARE_TEST_H

#include <stdint.h>

#include "attiny85/app.h" /* src/ is on the include path */
#include "nnmodel.h"
#include "nnsim.h"

#define FT_LED_DIGITS 4u /* digits whose reference class is kept for LED checks */
#define FT_CYCLES_PER_MS ((uint32_t)(F_CPU / 1000UL / APP_TIME_SCALE))

/* The record being streamed: stream_row fills it as the firmware asks for rows. The reference
 * logits follow a digit's rows and are read one at a time after its inference (ft_logits_next),
 * never held: the CNN's line buffers leave no SRAM for 40 more bytes. */
static struct {
    uint8_t label;
    uint8_t pending;            /* logits of the last digit not yet read */
    uint8_t cls[FT_LED_DIGITS]; /* the reference class of the first digits */
} ft_rec;

static inline uint32_t ft_read_le(uint8_t bytes)
{
    uint32_t v = 0;
    uint8_t i;
    for (i = 0; i < bytes; i++) {
        v |= (uint32_t)nnsim_in_byte() << (8u * i);
    }
    return v;
}

/* Rewinds the stream and checks its header ("NS", version 1, classes, count LE16, rows, cols, model
 * hash LE32) and length; returns the digit count, 0 if the stream is not for this model. */
static inline uint16_t ft_stream_open(void)
{
    uint16_t count;
    ft_rec.pending = 0;
    nnsim_in_rewind();
    if (ft_read_le(2) != ('N' | 'S' << 8) || nnsim_in_byte() != 1u ||
        nnsim_in_byte() != NNMODEL_NUM_CLASSES) {
        return 0;
    }
    count = (uint16_t)ft_read_le(2);
    if (ft_read_le(2) != (NNMODEL_INPUT_ROWS | NNMODEL_INPUT_COLS << 8) || ft_read_le(4) != NNMODEL_HASH ||
        nnsim_in_left() != (uint32_t)count * (1u + NNMODEL_INPUT_ROWS * NNMODEL_INPUT_COLS +
                                              4u * NNMODEL_NUM_CLASSES)) {
        return 0;
    }
    return count;
}

/* Reads the pending reference logits of digit k one by one: *cls = their argmax (ties to the
 * lowest, as numpy); returns how many from the start equal the model's (nnmodel_logit: no 40-byte
 * copy on the stack) if `compare`, else 0. */
static inline uint8_t ft_logits_next(uint16_t k, uint8_t compare, uint8_t *cls)
{
    int32_t best = 0;
    uint8_t j, same = 0, run = 1;
    for (j = 0; j < NNMODEL_NUM_CLASSES; j++) {
        const int32_t v = (int32_t)ft_read_le(4);
        if (j == 0u || v > best) {
            best = v;
            *cls = j;
        }
        run = run && compare && nnmodel_logit(j) == v;
        same = (uint8_t)(same + run);
    }
    if (k < FT_LED_DIGITS) {
        ft_rec.cls[k] = *cls;
    }
    ft_rec.pending = 0;
    return same;
}

/* After app_run: the logits of its last digit (digits - 1). */
static inline void ft_stream_flush(uint16_t digits)
{
    uint8_t cls;
    if (ft_rec.pending) {
        (void)ft_logits_next((uint16_t)(digits - 1u), 0, &cls);
    }
}

/* Row source over the stream: per digit a label, the pixels row by row, then the logits (read
 * here, at the next digit's first row, unless the test read them after the inference). */
static inline void ft_stream_row(uint16_t k, uint16_t r, uint8_t *row)
{
    uint8_t cls;
    if (r == 0u) {
        if (ft_rec.pending) {
            (void)ft_logits_next((uint16_t)(k - 1u), 0, &cls);
        }
        ft_rec.label = nnsim_in_byte();
    }
    nnsim_in_read(row, NNMODEL_INPUT_COLS);
    if (r == NNMODEL_INPUT_ROWS - 1u) {
        ft_rec.pending = 1;
    }
}

/* Within 10 % of ms (scaled): the delay loop adds a few cycles per ms; fast 50 ms and slow
 * 600 ms flashes stay far apart. */
static inline uint8_t ft_near(uint32_t cycles, uint16_t ms)
{
    const uint32_t want = ms * FT_CYCLES_PER_MS;
    return cycles > want - want / 10u && cycles < want + want / 10u;
}

/* Pops n LED pulses and counts those off their timing: on-time on_ms, off-time before it off_ms;
 * for the first pulse first_off_ms instead, or at least first_min_ms if that is set (0 and 0:
 * not checked). Prints the first bad pulse. */
static inline uint16_t ft_bad_pulses(uint8_t n, uint16_t on_ms, uint16_t off_ms, uint16_t first_off_ms,
                                     uint16_t first_min_ms)
{
    uint16_t bad = 0;
    uint8_t i;
    for (i = 0; i < n; i++) {
        uint32_t off, on = nnsim_led_pop(&off);
        uint8_t ok = ft_near(on, on_ms);
        if (i > 0u) {
            ok = ok && ft_near(off, off_ms);
        } else if (first_min_ms) {
            ok = ok && off >= first_min_ms * FT_CYCLES_PER_MS;
        } else if (first_off_ms) {
            ok = ok && ft_near(off, first_off_ms);
        }
        if (!ok && bad++ == 0u) {
            nnsim_puts_P(PSTR("bad LED pulse: on "));
            nnsim_putu32(on);
            nnsim_puts_P(PSTR(" cycles after "));
            nnsim_putu32(off);
            nnsim_puts_P(PSTR(" off\n"));
        }
    }
    return bad;
}

#endif /* FIRMWARE_TEST_H */

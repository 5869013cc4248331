/* ATtiny85 firmware: classify digits with the model in EEPROM, blink the answer on PB1.
 *
 * Before any inference the EEPROM image is checked (magic, version, length, the hash of the model
 * this firmware was built for, CRC); a missing, stale or corrupt image shows the error pattern and
 * nothing is classified. Digits stream one row at a time from a row source (main.c: the samples
 * in PROGMEM): 28 bytes of SRAM, never the whole image. The simulator build (NNMODEL_SIM) also
 * prints each result and its cycles to the simavr console.
 */
#include "app.h"

#include <avr/io.h>
#include <stdint.h>
#include <util/delay.h>

#include "nnmodel.h"

#ifdef NNMODEL_SIM
#include "nnsim.h"
#endif

#define LED _BV(PB1)

/* One ms (scaled) per iteration: _delay_us needs a compile-time constant. */
static void wait_ms(uint16_t ms)
{
    while (ms--) {
        _delay_us(1000.0 / APP_TIME_SCALE);
    }
}

static void blink(uint8_t times, uint16_t on_ms, uint16_t off_ms)
{
    while (times--) {
        PORTB |= LED;
        wait_ms(on_ms);
        PORTB &= (uint8_t)~LED;
        wait_ms(off_ms);
    }
}

void app_init(void)
{
    PORTB &= (uint8_t)~LED;
    DDRB |= LED;
}

uint16_t app_classify(app_row_source_t source, uint16_t k, int32_t *logits)
{
    uint8_t row[NNMODEL_INPUT_COLS];
    uint16_t r;
    nnmodel_begin();
    for (r = 0; r < NNMODEL_INPUT_ROWS; r++) {
        source(k, r, row);
        nnmodel_feed_row(row);
    }
    return nnmodel_finish(logits);
}

void app_show_digit(uint16_t digit)
{
    blink((uint8_t)(digit + 1u), APP_DIGIT_ON_MS, APP_DIGIT_OFF_MS);
    wait_ms(APP_DIGIT_PAUSE_MS);
}

void app_show_error(nnrt_status_t status)
{
    blink(APP_ERROR_FAST_COUNT, APP_ERROR_FAST_MS, APP_ERROR_FAST_MS);
    wait_ms(APP_ERROR_GAP_MS);
    blink((uint8_t)status, APP_ERROR_SLOW_ON_MS, APP_ERROR_SLOW_OFF_MS);
    wait_ms(APP_ERROR_PAUSE_MS);
}

#ifdef NNMODEL_SIM
static uint16_t classify_logged(app_row_source_t source, uint16_t k)
{
    nnsim_mark_t mark = nnsim_region_begin();
    uint16_t digit = app_classify(source, k, NULL);
    uint32_t cycles = nnsim_region_end(mark);
    nnsim_puts_P(PSTR("digit "));
    nnsim_putu32(k);
    nnsim_puts_P(PSTR(": predicted "));
    nnsim_putu32(digit);
    nnsim_puts_P(PSTR(", cycles "));
    nnsim_putu32(cycles);
    nnsim_putc('\n');
    return digit;
}
#else
#define classify_logged(source, k) app_classify((source), (k), NULL)
#endif

nnrt_status_t app_run(uint8_t rounds, app_row_source_t source, uint16_t count)
{
    nnrt_status_t status;
    uint16_t k;
    app_init();
    status = nnmodel_check();
    if (status != NNRT_OK) {
#ifdef NNMODEL_SIM
        nnsim_puts_P(PSTR("model image refused: status "));
        nnsim_putu32(status);
        nnsim_putc('\n');
#endif
        do {
            app_show_error(status);
        } while (rounds == 0u || --rounds != 0u);
        return status;
    }
    do {
        for (k = 0; k < count; k++) {
            app_show_digit(classify_logged(source, k));
        }
    } while (rounds == 0u || --rounds != 0u);
    return NNRT_OK;
}

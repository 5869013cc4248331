/* ATtiny85 firmware: classify the sample digits in flash with the model in EEPROM, blink the answer.
 *
 * Before any inference the EEPROM image is checked (magic, version, length, the hash of the model
 * this firmware was built for, CRC); a missing, stale or corrupt image shows the error pattern and
 * nothing is classified. Each digit d is shown as d+1 blinks on PB1 (the Digispark LED), then a
 * pause, so 0 is visible. Digits stream from PROGMEM one row at a time: 28 bytes of SRAM, never
 * the whole image. The simulator build (NNMODEL_SIM) also prints to the simavr console, measures
 * cycles per inference and ends after one pass. */
#include <avr/io.h>
#include <stdint.h>
#include <util/delay.h>

#include "nnmodel.h"
#include "nnmodel_samples.h"

#ifdef NNMODEL_SIM
#include "nnsim.h"
#define TIME_SCALE 100 /* simulated blinks 100x faster: the pattern, not the wall time, matters */
#else
#define TIME_SCALE 1
#endif

#define LED _BV(PB1)

static void wait_ms(uint16_t ms)
{
    uint16_t i;
    for (i = 0; i < ms / TIME_SCALE; i++) {
        _delay_ms(1);
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

/* Error: a burst of 10 fast flashes, then `status` slow ones (1 missing … 5 corrupt), forever. */
static void show_error(nnrt_status_t status)
{
    for (;;) {
        blink(10, 50, 50);
        wait_ms(600);
        blink((uint8_t)status, 600, 400);
        wait_ms(1500);
#ifdef NNMODEL_SIM
        return;
#endif
    }
}

int main(void)
{
    nnrt_status_t status;
    uint16_t k;
    DDRB |= LED;
    status = nnmodel_check();
    if (status != NNRT_OK) {
#ifdef NNMODEL_SIM
        nnsim_puts_P(PSTR("model image refused: status "));
        nnsim_putu32(status);
        nnsim_putc('\n');
#endif
        show_error(status);
        return (int)status;
    }
    for (;;) {
        for (k = 0; k < NNMODEL_SAMPLE_COUNT; k++) {
#ifdef NNMODEL_SIM
            nnsim_mark_t mark = nnsim_region_begin();
            uint16_t digit = nnmodel_sample_classify(k, NULL);
            uint32_t cycles = nnsim_region_end(mark);
            nnsim_puts_P(PSTR("digit "));
            nnsim_putu32(k);
            nnsim_puts_P(PSTR(": predicted "));
            nnsim_putu32(digit);
            nnsim_puts_P(PSTR(", label "));
            nnsim_putu32(nnmodel_sample_label(k));
            nnsim_puts_P(PSTR(", cycles "));
            nnsim_putu32(cycles);
            nnsim_putc('\n');
#else
            uint16_t digit = nnmodel_sample_classify(k, NULL);
#endif
            blink((uint8_t)(digit + 1u), 250, 250);
            wait_ms(1500);
        }
#ifdef NNMODEL_SIM
        return 0;
#endif
    }
}

/* Classify the sample digits with the model in the ATtiny85's EEPROM and blink each class on PB1.
 *
 * nnmodel_check() refuses an image that is missing (EEPROM not written), of another model (an old
 * upload) or damaged; then nothing is classified and the LED flickers. The digits come from flash
 * one row (28 bytes) at a time: the image is never whole in the 512 bytes of SRAM.
 */
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <stdint.h>
#include <util/delay.h>

#include "nnmodel.h"
#include "nnmodel_samples.h"

#ifdef EXAMPLE_SIM /* the simavr twin prints instead of blinking */
#include "nnsim.h"
#endif

#define LED _BV(PB1)

static void blink(uint8_t times, uint8_t fast)
{
    while (times--) {
        PORTB |= LED;
        if (fast) { _delay_ms(50); } else { _delay_ms(250); }
        PORTB &= (uint8_t)~LED;
        if (fast) { _delay_ms(50); } else { _delay_ms(250); }
    }
}

int main(void)
{
    uint16_t k;
    DDRB |= LED;
#ifdef EXAMPLE_SIM /* strings stay in flash: the SRAM holds the CNN's line buffers */
    nnsim_puts_P(PSTR("model " NNMODEL_NAME ", EEPROM image status "));
    nnsim_putu32((uint32_t)nnmodel_check()); /* 0: NNRT_OK */
    nnsim_puts_P(PSTR("\r"));
#endif
    if (nnmodel_check() != NNRT_OK) {
        for (;;) {
            blink(10, 1);
        }
    }
    for (k = 0; k < NNMODEL_SAMPLE_COUNT; k++) {
        const uint16_t digit = nnmodel_sample_classify(k, 0);
#ifdef EXAMPLE_SIM
        nnsim_puts_P(PSTR("digit "));
        nnsim_putu32(k);
        nnsim_puts_P(PSTR(": class "));
        nnsim_putu32(digit);
        nnsim_puts_P(PSTR(", label "));
        nnsim_putu32(nnmodel_sample_label(k));
        nnsim_puts_P(PSTR("\r"));
#else
        blink((uint8_t)(digit + 1u), 0);
        _delay_ms(1500);
#endif
    }
#ifdef EXAMPLE_SIM
    nnsim_exit(0);
#endif
    for (;;) {
    }
}

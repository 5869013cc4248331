/* Placeholder ATtiny85 firmware: blinks the LED on PB1 (Digispark). The
 * simulator build (NNMODEL_SIM, env attiny85_sim) says hello and exits so
 * `pio run -e attiny85_sim -t exec` terminates. */
#include <avr/io.h>
#include <util/delay.h>

#ifdef NNMODEL_SIM
#include "nnsim.h"
#endif

int main(void)
{
#ifdef NNMODEL_SIM
    nnsim_puts_P(PSTR("nnmodel attiny85 placeholder\n"));
    return 0;
#else
    DDRB |= _BV(PB1);
    for (;;) {
        PORTB ^= _BV(PB1);
        _delay_ms(500);
    }
#endif
}

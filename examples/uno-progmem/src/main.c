/* Classify the sample digits with the weights in PROGMEM and print each class (serial, 9600 baud).
 *
 * The weights never enter the 2 KB of SRAM: the runtime reads them from flash with pgm_read_byte,
 * and the digits stream from flash one 28-byte row at a time.
 */
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <stdint.h>

#include "nnmodel.h"
#include "nnmodel_samples.h"

#ifdef EXAMPLE_SIM /* the simavr twin: its console instead of the UART */
#include "nnsim.h"
#define say_P nnsim_puts_P
#define say_u nnsim_putu32
#define EOL "\r"
#else
#define EOL "\r\n"

static void uart_putc(char c)
{
    while (!(UCSR0A & _BV(UDRE0))) {
    }
    UDR0 = (uint8_t)c;
}

static void say_P(const char *s) /* a PSTR */
{
    char c;
    while ((c = (char)pgm_read_byte(s++)) != 0) {
        uart_putc(c);
    }
}

static void say_u(uint32_t v)
{
    char buf[10];
    uint8_t n = 0;
    do {
        buf[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) {
        uart_putc(buf[--n]);
    }
}
#endif

int main(void)
{
    uint16_t k, right = 0;
#ifndef EXAMPLE_SIM
    UBRR0 = (uint16_t)(F_CPU / 16ul / 9600ul - 1ul);
    UCSR0B = _BV(TXEN0);
#endif
    say_P(PSTR("model " NNMODEL_NAME ", weights in " NNMODEL_STORAGE EOL));
    for (k = 0; k < NNMODEL_SAMPLE_COUNT; k++) {
        const uint16_t digit = nnmodel_sample_classify(k, 0);
        right += digit == nnmodel_sample_label(k);
        say_P(PSTR("digit "));
        say_u(k);
        say_P(PSTR(": class "));
        say_u(digit);
        say_P(PSTR(", label "));
        say_u(nnmodel_sample_label(k));
        say_P(PSTR(EOL));
    }
    say_u(right);
    say_P(PSTR(" of " ));
    say_u(NNMODEL_SAMPLE_COUNT);
    say_P(PSTR(" right" EOL));
#ifdef EXAMPLE_SIM
    nnsim_exit(0);
#endif
    for (;;) {
    }
}

/* Thermometer: an NTC thermistor divider on ADC2 (PB4), corrected for the board's self-heating by
 * the regression model in the ATtiny85's EEPROM, with the chip's own temperature sensor as the board
 * temperature. Integer-only: the model takes the raw readings (ADC counts, 1/16 degree) through
 * nnmodel_feed_raw and gives thousandths of a degree, so no float routine is linked.
 *
 * One line per reading, "adc=504 die=305 board16=469 T = 23.403 C": on the chip over a TX-only
 * software UART (PB0, 9600 8N1) once a second; in the simavr twin (EXAMPLE_SIM) on the harness
 * console, one line per -adc scenario of simavr_run, with the inference's cycles appended.
 */
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <stdint.h>

#include "nnmodel.h"

#ifdef EXAMPLE_SIM
#include "nnsim.h"
#endif

/* The raw row below is {thermistor ADC counts, board temperature in 1/16 degree}: the model's
 * INPUT_NAMES {"adc", "board_c"} with INPUT_STEPS {1, 0.0625}. */
#if NNMODEL_INPUT_ROWS != 1 || NNMODEL_INPUT_COLS != 2 || NNMODEL_NUM_OUTPUTS != 1
#error "this firmware feeds one row of two readings and prints one output"
#endif

/* ADC2 (PB4) against VCC (REFS2:0 = 000): the divider is ratiometric, the supply cancels out. */
#define THERMISTOR_ADMUX _BV(MUX1)
/* The temperature sensor (MUX3:0 = 1111) against the 1.1 V bandgap (REFS2:0 = 010), as the
 * datasheet requires for it. */
#define DIE_ADMUX (_BV(REFS1) | _BV(MUX3) | _BV(MUX2) | _BV(MUX1) | _BV(MUX0))

/* The sensor's offset of this chip in LSB (uncalibrated it is good to about 10 degrees): read die=
 * at a known temperature, then build with -DDIE_OFFSET_LSB=(expected count - read count). */
#ifndef DIE_OFFSET_LSB
#define DIE_OFFSET_LSB 0
#endif

#define TX _BV(PB0)
#define BAUD 9600UL

/* ADC clock within the datasheet's 50..200 kHz for full 10-bit accuracy. */
#if F_CPU / 64 > 200000UL
#define ADC_PRESCALER (_BV(ADPS2) | _BV(ADPS1) | _BV(ADPS0)) /* /128 */
#elif F_CPU / 32 > 200000UL
#define ADC_PRESCALER (_BV(ADPS2) | _BV(ADPS1)) /* /64 */
#elif F_CPU / 16 > 200000UL
#define ADC_PRESCALER (_BV(ADPS2) | _BV(ADPS0)) /* /32 */
#elif F_CPU / 8 > 200000UL
#define ADC_PRESCALER _BV(ADPS2) /* /16 */
#else
#define ADC_PRESCALER (_BV(ADPS1) | _BV(ADPS0)) /* /8 */
#endif

#ifndef EXAMPLE_SIM
/* 8N1, LSB first, bit times counted in cycles: no timer or interrupt to set up. The 10 cycles are
 * the loop's own, so the bit time stays within 0.2 % at 8 MHz. */
static void uart_tx(uint8_t c)
{
    uint16_t frame = (uint16_t)((uint16_t)c << 1) | 0x200u; /* start bit 0, data, stop bit 1 */
    uint8_t i;
    for (i = 0; i < 10u; i++) {
        if (frame & 1u) {
            PORTB |= TX;
        } else {
            PORTB &= (uint8_t)~TX;
        }
        frame >>= 1;
        __builtin_avr_delay_cycles(F_CPU / BAUD - 10u);
    }
}
#endif

static void put_char(char c)
{
#ifdef EXAMPLE_SIM
    nnsim_putc(c);
#else
    uart_tx((uint8_t)c);
#endif
}

/* Strings stay in flash: SRAM (512 B) holds the model's buffers. */
static void put_str_P(const char *s)
{
    char c;
    while ((c = (char)pgm_read_byte(s++)) != 0) {
        put_char(c);
    }
}

static void put_u32(uint32_t v)
{
    char digits[10];
    uint8_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (n != 0u) {
        put_char(digits[--n]);
    }
}

static void put_i32(int32_t v)
{
    if (v < 0) {
        put_char('-');
    }
    put_u32(v < 0 ? 0u - (uint32_t)v : (uint32_t)v);
}

/* v counts 10^-NNMODEL_OUTPUT_DECIMALS of a degree: whole part, point, zero-padded fraction. */
static void put_fixed(int32_t v)
{
    uint32_t mag = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    uint32_t scale = 1u;
    uint8_t d;
    for (d = 0; d < NNMODEL_OUTPUT_DECIMALS; d++) {
        scale *= 10u;
    }
    if (v < 0) {
        put_char('-');
    }
    put_u32(mag / scale);
    if (scale > 1u) {
        put_char('.');
        mag %= scale;
        for (scale /= 10u; scale != 0u; scale /= 10u) {
            put_char((char)('0' + mag / scale));
            mag %= scale;
        }
    }
}

static void put_line_end(void)
{
    put_str_P(PSTR("\r\n"));
}

/* One conversion after a switch of input or reference, which the datasheet says may be off: the
 * first is discarded after 1 ms for the bandgap and the sensor to settle. */
static uint16_t adc_read(uint8_t admux)
{
    uint16_t v = 0;
    uint8_t k;
    ADMUX = admux;
    __builtin_avr_delay_cycles(F_CPU / 1000UL);
    for (k = 0; k < 2u; k++) {
        ADCSRA |= _BV(ADSC);
        while (ADCSRA & _BV(ADSC)) {
        }
        v = ADC;
    }
    return v;
}

/* Die temperature in 1/16 degree from the sensor's count: the datasheet's typical curve (230 LSB at
 * -40 C, 300 at +25 C, 370 at +85 C), straight between those points, rounded to nearest. */
static int32_t die_sixteenths(uint16_t count)
{
    const int32_t x = (int32_t)count + DIE_OFFSET_LSB - 300;
    const int32_t n = x * (x < 0 ? 16 * 65 : 16 * 60); /* per 70 LSB */
    return 16 * 25 + (n >= 0 ? (n + 35) / 70 : -((35 - n) / 70));
}

int main(void)
{
    nnrt_status_t status;
#ifndef EXAMPLE_SIM
    PORTB |= TX; /* the line idles high */
    DDRB |= TX;
#endif
    DIDR0 = _BV(ADC2D); /* PB4 is analog only: no digital input buffer on a mid-level voltage */
    ADCSRA = _BV(ADEN) | ADC_PRESCALER;

    /* An image that is missing (EEPROM not written), of another model or damaged gives no reading. */
    status = nnmodel_check();
    put_str_P(PSTR("model " NNMODEL_NAME ", EEPROM image status "));
    put_u32((uint32_t)status);
    put_line_end();
    if (status != NNRT_OK) {
#ifdef EXAMPLE_SIM
        nnsim_exit(1);
#endif
        for (;;) {
            put_str_P(PSTR("no model: write the EEPROM (pio run -e attiny85 -t uploadeep)"));
            put_line_end();
            __builtin_avr_delay_cycles(F_CPU);
        }
    }

    for (;;) {
        const uint16_t adc = adc_read(THERMISTOR_ADMUX);
        const uint16_t die = adc_read(DIE_ADMUX);
        int32_t raw[NNMODEL_INPUT_COLS];
        int32_t milli;
#ifdef EXAMPLE_SIM
        uint32_t cycles;
        nnsim_mark_t mark;
#endif
        raw[0] = (int32_t)adc;
        raw[1] = die_sixteenths(die);
#ifdef EXAMPLE_SIM
        mark = nnsim_region_begin();
#endif
        nnmodel_begin(); /* feed_raw takes feed_row's place in the streaming API */
        nnmodel_feed_raw(raw);
        (void)nnmodel_finish(NULL);
        milli = nnmodel_output(0);
#ifdef EXAMPLE_SIM
        cycles = nnsim_region_end(mark);
#endif
        put_str_P(PSTR("adc="));
        put_u32(adc);
        put_str_P(PSTR(" die="));
        put_u32(die);
        put_str_P(PSTR(" board16="));
        put_i32(raw[1]);
        put_str_P(PSTR(" T = "));
        put_fixed(milli);
        put_str_P(PSTR(" C"));
#ifdef EXAMPLE_SIM
        put_str_P(PSTR(", inference "));
        put_u32(cycles);
        put_str_P(PSTR(" cycles"));
#endif
        put_line_end();
#ifdef EXAMPLE_SIM
        if (!nnsim_analog_next()) {
            nnsim_exit(0);
        }
#else
        __builtin_avr_delay_cycles(F_CPU); /* a second between readings */
#endif
    }
}

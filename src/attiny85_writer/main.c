/* EEPROM writer for ATtiny85 boards whose bootloader writes flash only (Digispark: micronucleus).
 *
 * Carries the model's EEPROM image in flash (custom_nnmodel_eeprom_writer: the generated
 * nnmodel_eeprom_writer.c), writes it where the inference firmware reads it (the model's EEMEM
 * array, built from the same generated code), reads every byte back, then runs the firmware's own
 * check (magic, version, length, hash, CRC). Result on the LED (PB1):
 *   done   - LED on, steadily: now upload the inference firmware (env digispark); uploading
 *            flash leaves the EEPROM alone;
 *   failed - fast flicker (10 Hz), forever.
 * The LED stays off while writing (about 1.6 s: 3.4 ms per changed byte). The simulator build
 * (NNMODEL_SIM) prints the result and ends the run with 0 (done) or the failing status. */
#include <avr/io.h>
#include <stdint.h>
#include <util/delay.h>

#include "nnmodel.h"
#include "nnmodel_eeprom_writer.h"

#ifdef NNMODEL_SIM
#include "nnsim.h"
#define FLICKERS 10u /* then end the run: the pattern, not the wall time, matters */
#endif

#define LED _BV(PB1)

#if !NNMODEL_HAS_IMAGE
#error "the EEPROM writer needs the model in EEPROM (custom_nnmodel_storage = eeprom)"
#endif

int main(void)
{
    uint16_t differ;
    nnrt_status_t status;
#ifdef NNMODEL_SIM
    uint8_t flickers = 0;
#endif
    PORTB &= (uint8_t)~LED;
    DDRB |= LED;
    differ = nnmodel_eeprom_write();
    status = differ ? NNRT_ERR_CORRUPT : nnmodel_check();
#ifdef NNMODEL_SIM
    nnsim_puts_P(PSTR("eeprom writer: "));
    nnsim_putu32(NNMODEL_WRITER_IMAGE_BYTES);
    nnsim_puts_P(PSTR(" bytes, "));
    nnsim_putu32(differ);
    nnsim_puts_P(PSTR(" differ after writing, check status "));
    nnsim_putu32(status);
    nnsim_putc('\n');
#endif
    if (status == NNRT_OK) {
        PORTB |= LED;
#ifdef NNMODEL_SIM
        return 0;
#endif
        for (;;) {
        }
    }
    for (;;) {
        PORTB ^= LED;
        _delay_ms(50);
#ifdef NNMODEL_SIM
        if (++flickers == 2u * FLICKERS) {
            return (int)status;
        }
#endif
    }
}

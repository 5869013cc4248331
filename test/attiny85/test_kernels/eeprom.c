/* The kernels with the weights in EEPROM, the storage of the shipped ATtiny85 model (they
 * drive EEAR/EEDR themselves). The table is written at run time: the linker keeps every
 * .eeprom section, and the firmware's model image already fills most of the 512 bytes. simavr
 * completes EEPROM writes at once. Layout: 16 bytes unused (address 0 would read as NULL), a
 * 400-byte table, then the requantization parameters. */
#include <avr/eeprom.h>
#include <avr/pgmspace.h>
#include <stdint.h>

#define NNRT_STORAGE NNRT_STORAGE_EEPROM
#define KC(name) eeprom_##name
#define KC_TABLE ((const uint8_t *)16)
#define KC_FULL 1
#include "storage.h"

#define TABLE_BYTES 400u
static const uint8_t params[3 * N_PARAMS + 3 * N_PARAMS] PROGMEM = {PARAM_LIST(PARAM_TRIPLE) PARAM_LIST(PARAM_MULT)
                                                                        PARAM_LIST(PARAM_SHIFT)};

const kernels_t eeprom_kernels = {TABLE_BYTES, eeprom_dot, KC_FULL_FNS};

void eeprom_write_table(void);
void eeprom_write_table(void)
{
    uint16_t i;
    for (i = 0; i < TABLE_BYTES; i++) eeprom_update_byte((uint8_t *)16 + i, (uint8_t)i);
    for (i = 0; i < sizeof params; i++) eeprom_update_byte((uint8_t *)16 + TABLE_BYTES + i, pgm_read_byte(params + i));
}

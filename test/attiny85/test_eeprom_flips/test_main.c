/* The firmware's image check (nnmodel_check, what app_run calls before any inference) against
 * every single-bit flip of the model's EEPROM image, in simavr: the detection rate is printed
 * ("EEPROM single-bit flips: N of N refused") and must be 100%, each for the right reason. Its own
 * program: the flips take 4,491 EEPROM writes (~330 M cycles) and test_eeprom_image's flash is
 * full. */
#include <avr/eeprom.h>
#include <stdint.h>

#include "nnmodel.h"
#include "nnsim.h"
#include "unity_lite.h"

/* Every bit of the image flipped on its own (8 x 499 images for the CNN): never accepted, and
 * refused for the right reason; the count is printed as the detection rate. Each byte goes
 * through its 8 one-bit variants and back: 9 EEPROM writes of 3.4 ms of chip time each. */
static void test_every_single_bit_flip_is_refused(void)
{
    uint32_t flips = 0, refused = 0, right = 0;
    uint16_t i;
    uint8_t b;
    for (i = 0; i < NNMODEL_IMAGE_BYTES; i++) {
        uint8_t *p = nnmodel_image + i;
        const uint8_t v = eeprom_read_byte(p);
        const nnrt_status_t want = i < 2u ? NNRT_ERR_MISSING
                                 : i == 2u ? NNRT_ERR_VERSION
                                 : (i == 4u || i == 5u) ? NNRT_ERR_LENGTH
                                 : NNRT_ERR_CORRUPT; /* flags, hash, CRC and payload are under the CRC */
        for (b = 0; b < 8u; b++) {
            nnrt_status_t got;
            eeprom_write_byte(p, (uint8_t)(v ^ (1u << b)));
            got = nnmodel_check();
            flips++;
            refused += got != NNRT_OK;
            right += got == want;
        }
        eeprom_write_byte(p, v);
    }
    nnsim_puts_P(PSTR("EEPROM single-bit flips: "));
    nnsim_putu32(refused);
    nnsim_puts_P(PSTR(" of "));
    nnsim_putu32(flips);
    nnsim_puts_P(PSTR(" refused, "));
    nnsim_putu32(right);
    nnsim_puts_P(PSTR(" with the expected status\n"));
    TEST_ASSERT_EQUAL_UINT32(8u * NNMODEL_IMAGE_BYTES, flips);
    TEST_ASSERT_EQUAL_UINT32(flips, refused);
    TEST_ASSERT_EQUAL_UINT32(flips, right);
    TEST_ASSERT_EQUAL_INT(NNRT_OK, nnmodel_check());
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_every_single_bit_flip_is_refused);
    return UNITY_END();
}

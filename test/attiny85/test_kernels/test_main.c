/* The AVR-only kernel paths (asm dot-product loops with the +-127 shortcut and 16-bit sums,
 * zero-pixel trimming, asm requantization, asm bias loading) against plain integer arithmetic
 * (checks.c): every int8 weight times every uint8 and int8 input, long sums that overflow 16
 * bits, chunks of 256 inputs, zero runs, odd output counts, every bias width, requantization at
 * every rounding and saturation boundary. Host tests never compile these paths, so they are
 * proven here, in simavr. Weights in EEPROM (eeprom.c: the shipped model's storage, all checks)
 * and in RAM (ram.c: the weight read differs, the rest is the same code). One instance each is
 * ~1-2 KB, beside the firmware that test_build_src links: program memory's read (lpm) is
 * checked end to end by the random models of tests/test_simulators.py. */
#include <stdint.h>

#include "kernels.h"
#include "unity_lite.h"

extern const kernels_t eeprom_kernels, ram_kernels;
void eeprom_write_table(void);

static void ram_every_weight_times_every_input(void)
{
    uint16_t i;
    for (i = 0; i < sizeof test_buffer; i++) test_buffer[i] = (uint8_t)i;
    kernels_now = &ram_kernels;
    TEST_ASSERT_EQUAL_INT(0, check_every_weight_times_every_input());
}
static void eeprom_every_weight_times_every_input(void)
{
    eeprom_write_table();
    kernels_now = &eeprom_kernels;
    TEST_ASSERT_EQUAL_INT(0, check_every_weight_times_every_input());
}
static void eeprom_long_dot_products(void) { TEST_ASSERT_EQUAL_INT(0, check_long_dot_products()); }
static void eeprom_bias_of_every_width(void) { TEST_ASSERT_EQUAL_INT(0, check_bias_of_every_width()); }
static void eeprom_requant_matches_the_formula(void) { TEST_ASSERT_EQUAL_INT(0, check_requant_matches_the_formula()); }

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(ram_every_weight_times_every_input);
    RUN_TEST(eeprom_every_weight_times_every_input); /* writes the EEPROM table for the rest */
    RUN_TEST(eeprom_long_dot_products);
    RUN_TEST(eeprom_bias_of_every_width);
    RUN_TEST(eeprom_requant_matches_the_formula);
    return UNITY_END();
}

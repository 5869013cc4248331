/* Proves the simavr harness features the model tests rely on: exact cycle
 * regions, stack high-water, EEPROM loaded from the ELF, flash strings. */
#include <avr/eeprom.h>
#include <avr/pgmspace.h>
#include <stdint.h>

#include "nnsim_checks.h"
#include "unity_lite.h"

static const uint8_t EEMEM ee_image[4] = {0xA1, 0xB2, 0xC3, 0xD4};
static volatile uint8_t sink;

static void test_region_counts_exact_cycles(void)
{
    nnsim_mark_t m = nnsim_region_begin();
    __asm__ __volatile__("nop\n\tnop\n\tnop\n\trjmp .+0" ::: "memory"); /* 1+1+1+2 */
    TEST_ASSERT_EQUAL_UINT32(5, nnsim_region_end(m));
}

static void test_eeprom_read_halts_the_cpu_four_cycles(void)
{
    /* out + sbi + in = 1 + 2 + 1 cycles, plus the datasheet's 4-cycle halt after the read strobe
     * (simavr_run -ee-halt; simavr alone would count 4). */
    uint8_t v;
    nnsim_mark_t m = nnsim_region_begin();
    __asm__ __volatile__("out %[ar], __zero_reg__\n\tsbi %[cr], %[re]\n\tin %[v], %[dr]"
                         : [v] "=r"(v)
                         : [ar] "I"(_SFR_IO_ADDR(EEARL)), [cr] "I"(_SFR_IO_ADDR(EECR)), [re] "I"(EERE),
                           [dr] "I"(_SFR_IO_ADDR(EEDR))
                         : "memory");
    uint32_t cycles = nnsim_region_end(m);
    sink = v;
    TEST_ASSERT_EQUAL_UINT32(1 + 2 + 1 + 4, cycles);
}

/* The harness scans SRAM only: more than its 512 B would be a harness bug. */
static void test_stack_high_water_within_sram(void)
{
    nnsim_stack_repaint();
    sink = burn_stack(8);
    TEST_ASSERT_LESS_OR_EQUAL_UINT32(512, nnsim_stack_used());
}

static void test_eeprom_comes_from_elf(void)
{
    static const uint8_t expected[4] PROGMEM = {0xA1, 0xB2, 0xC3, 0xD4};
    uint8_t got[4];
    eeprom_read_block(got, ee_image, sizeof got);
    for (uint8_t i = 0; i < 4; i++) TEST_ASSERT_EQUAL_UINT8(pgm_read_byte(&expected[i]), got[i]);
}

static void test_flash_golden_vector(void)
{
    static const int8_t golden[3] PROGMEM = {-3, 0, 5};
    int8_t actual[3] = {-3, 0, 5};
    TEST_ASSERT_EQUAL_INT8_ARRAY_P(golden, actual, 3);
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_empty_region_is_zero);
    RUN_TEST(test_region_counts_exact_cycles);
    RUN_TEST(test_eeprom_read_halts_the_cpu_four_cycles);
    RUN_TEST(test_stack_high_water_grows_with_depth);
    RUN_TEST(test_stack_high_water_within_sram);
    RUN_TEST(test_eeprom_comes_from_elf);
    RUN_TEST(test_flash_golden_vector);
    return UNITY_END();
}

/* The ATtiny85 firmware in simavr, part 1: src/attiny85/app.c, linked in by test_build_src, so
 * these are the functions the chip runs (its main() is app_run over the PROGMEM samples).
 *   (a) >= 200 official test digits streamed row by row through simavr_run -in
 *       (custom_nnmodel_stream): integer logits identical to nnmodel.reference; the firmware's
 *       run blinks each class d as d+1 pulses on PB1;
 *   (c) the SRAM high-water mark of an inference, by stack painting, is printed.
 * Refused EEPROM images: test_eeprom_image. */
#include <avr/io.h>
#include <stdint.h>

#include "attiny85/firmware_test.h"
#include "unity_lite.h"

#define MIN_STREAM_DIGITS 200u

extern uint8_t __heap_start; /* linker: first SRAM byte after .data/.bss/.noinit */

/* (a) Every streamed digit through the firmware's app_classify. */
static void test_streamed_digits_give_the_reference_logits(void)
{
    uint32_t cycles, total = 0, lo = UINT32_MAX, hi = 0;
    uint16_t count = ft_stream_open(), k, correct = 0, differ = 0;
    uint8_t j, want_cls;
    TEST_ASSERT_GREATER_OR_EQUAL_INT(MIN_STREAM_DIGITS, count);
    TEST_ASSERT_EQUAL_INT(NNRT_OK, nnmodel_check());
    for (k = 0; k < count; k++) {
        nnsim_mark_t mark = nnsim_region_begin();
        uint16_t predicted = app_classify(ft_stream_row, k, NULL);
        cycles = nnsim_region_end(mark);
        j = ft_logits_next(k, 1, &want_cls); /* the first j logits are identical */
        if ((j < NNMODEL_NUM_CLASSES || predicted != want_cls) && differ++ == 0u) {
            nnsim_puts_P(PSTR("first difference: digit "));
            nnsim_putu32(k);
            nnsim_puts_P(PSTR(", class "));
            nnsim_putu32(j);
            nnsim_putc('\n');
        }
        correct += predicted == ft_rec.label;
        total += cycles;
        lo = cycles < lo ? cycles : lo;
        hi = cycles > hi ? cycles : hi;
    }
    nnsim_puts_P(PSTR("stream: "));
    nnsim_putu32(count);
    nnsim_puts_P(PSTR(" digits, "));
    nnsim_putu32(count - differ);
    nnsim_puts_P(PSTR(" with logits identical to nnmodel.reference, "));
    nnsim_putu32(correct);
    nnsim_puts_P(PSTR(" labels matched; cycles per inference mean "));
    nnsim_putu32(total / count);
    nnsim_puts_P(PSTR(", min "));
    nnsim_putu32(lo);
    nnsim_puts_P(PSTR(", max "));
    nnsim_putu32(hi);
    nnsim_putc('\n');
    TEST_ASSERT_EQUAL_INT(0, differ);
    TEST_ASSERT_EQUAL_UINT32(0, nnsim_in_left()); /* every digit was read, none skipped */
}

/* (a) The firmware's run over streamed digits: each reference class d blinks d+1 times (250 ms
 * on, 250 ms off), digits apart by at least the last gap and the pause. */
static void test_firmware_blinks_the_reference_class_of_each_digit(void)
{
    uint32_t pulses = 0;
    uint16_t bad = 0, k;
    TEST_ASSERT_GREATER_OR_EQUAL_INT(FT_LED_DIGITS, ft_stream_open());
    nnsim_led_clear();
    TEST_ASSERT_EQUAL_INT(NNRT_OK, app_run(1, ft_stream_row, FT_LED_DIGITS));
    ft_stream_flush(FT_LED_DIGITS);
    for (k = 0; k < FT_LED_DIGITS; k++) {
        pulses += ft_rec.cls[k] + 1u;
    }
    TEST_ASSERT_EQUAL_UINT32(pulses, nnsim_led_pulses());
    for (k = 0; k < FT_LED_DIGITS; k++) {
        bad += ft_bad_pulses((uint8_t)(ft_rec.cls[k] + 1u), APP_DIGIT_ON_MS, APP_DIGIT_OFF_MS, 0,
                             k ? APP_DIGIT_OFF_MS + APP_DIGIT_PAUSE_MS : 0);
    }
    TEST_ASSERT_EQUAL_INT(0, bad);
}

/* (c) .data + .bss + the stack's high-water mark during one inference of the firmware's code
 * (this test program's statics and frames included: an upper bound for the firmware's). */
static void test_sram_high_water_of_an_inference(void)
{
    const uint32_t statics = (uint32_t)((uint16_t)&__heap_start - RAMSTART);
    uint32_t stack, peak;
    TEST_ASSERT_GREATER_OR_EQUAL_INT(1, ft_stream_open());
    nnsim_stack_repaint();
    (void)app_classify(ft_stream_row, 0, NULL); /* as the firmware calls it */
    stack = nnsim_stack_used();
    peak = statics + stack;
    nnsim_puts_P(PSTR("SRAM high-water during an inference: "));
    nnsim_putu32(peak);
    nnsim_puts_P(PSTR(" of 512 bytes (.data+.bss "));
    nnsim_putu32(statics);
    nnsim_puts_P(PSTR(" + stack "));
    nnsim_putu32(stack);
    nnsim_puts_P(PSTR(")\n"));
    /* < 512: a painted byte between .bss and the stack was never written, i.e. the stack did not
     * reach the statics (the scan cannot report more than 512 - statics). */
    TEST_ASSERT_LESS_OR_EQUAL_UINT32(RAMEND - RAMSTART, peak);
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_streamed_digits_give_the_reference_logits);
    RUN_TEST(test_firmware_blinks_the_reference_class_of_each_digit);
    RUN_TEST(test_sram_high_water_of_an_inference);
    return UNITY_END();
}

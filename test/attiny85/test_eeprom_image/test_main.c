/* The ATtiny85 firmware in simavr, part 2 (b): EEPROM images with a flipped bit, another model's
 * hash, or erased (all 0xFF) are refused by the firmware's start-up (app_run) with the error
 * pattern on PB1, and nothing is classified. tearDown rewrites the image with the generated
 * EEPROM writer (custom_nnmodel_eeprom_writer), which the erased case proves. Every single-bit
 * flip: test_eeprom_flips. */
#include <avr/eeprom.h>
#include <avr/io.h>
#include <stdint.h>

#include "attiny85/firmware_test.h"
#include "nnmodel_eeprom_writer.h"
#include "unity_lite.h"

void tearDown(void)
{
    if (nnmodel_check() != NNRT_OK) {
        (void)nnmodel_eeprom_write();
    }
}

/* `status` comes back, no row of the digit the firmware was given is read, and the LED shows 10
 * fast flashes then `status` slow ones, and nothing else. */
static void expect_refused(nnrt_status_t status)
{
    uint32_t unread;
    uint16_t bad;
    TEST_ASSERT_EQUAL_INT(status, nnmodel_check());
    TEST_ASSERT_GREATER_OR_EQUAL_INT(1, ft_stream_open());
    unread = nnsim_in_left();
    nnsim_led_clear();
    TEST_ASSERT_EQUAL_INT(status, app_run(1, ft_stream_row, 1));
    TEST_ASSERT_EQUAL_UINT32(unread, nnsim_in_left()); /* not one row was asked for */
    TEST_ASSERT_EQUAL_UINT32(APP_ERROR_FAST_COUNT + (uint32_t)status, nnsim_led_pulses());
    bad = ft_bad_pulses(APP_ERROR_FAST_COUNT, APP_ERROR_FAST_MS, APP_ERROR_FAST_MS, 0, 0);
    bad += ft_bad_pulses((uint8_t)status, APP_ERROR_SLOW_ON_MS, APP_ERROR_SLOW_OFF_MS,
                         APP_ERROR_FAST_MS + APP_ERROR_GAP_MS, 0);
    TEST_ASSERT_EQUAL_INT(0, bad);
}

static void flip_bit(uint16_t offset, uint8_t bit)
{
    uint8_t *p = nnmodel_image + offset;
    eeprom_write_byte(p, (uint8_t)(eeprom_read_byte(p) ^ (1u << bit)));
}

static void test_intact_image_runs_the_firmware(void)
{
    TEST_ASSERT_EQUAL_INT(NNRT_OK, nnmodel_check());
    TEST_ASSERT_GREATER_OR_EQUAL_INT(1, ft_stream_open());
    nnsim_led_clear();
    TEST_ASSERT_EQUAL_INT(NNRT_OK, app_run(1, ft_stream_row, 1));
    ft_stream_flush(1);
    TEST_ASSERT_EQUAL_UINT32(ft_rec.cls[0] + 1u, nnsim_led_pulses()); /* the control case */
}

static void test_one_flipped_payload_bit_is_refused_as_corrupt(void)
{
    flip_bit(NNRT_IMAGE_HEADER_BYTES + NNMODEL_PAYLOAD_BYTES / 2u, 3);
    expect_refused(NNRT_ERR_CORRUPT);
}

/* An intact image of another model: its hash, with the CRC recomputed to match, so only the hash
 * check can refuse it. */
static void test_another_models_hash_is_refused_as_stale(void)
{
    const uint32_t other = NNMODEL_HASH ^ 0x5A5A5A5AUL; /* differs in every byte */
    uint16_t crc = 0xFFFFu, i;
    for (i = 0; i < 4u; i++) {
        eeprom_write_byte(nnmodel_image + 6u + i, (uint8_t)(other >> (8u * i)));
    }
    for (i = 0; i < NNMODEL_IMAGE_BYTES; i = i == 9u ? NNRT_IMAGE_HEADER_BYTES : i + 1u) {
        crc = nnrt_crc16_update(crc, eeprom_read_byte(nnmodel_image + i)); /* header 0..9, payload */
    }
    eeprom_write_byte(nnmodel_image + 10u, (uint8_t)crc);
    eeprom_write_byte(nnmodel_image + 11u, (uint8_t)(crc >> 8));
    expect_refused(NNRT_ERR_STALE);
}

/* A chip whose EEPROM was never written (all 0xFF); then the writer's image makes it usable. */
static void test_erased_eeprom_is_refused_as_missing_until_written(void)
{
    uint16_t a;
    for (a = 0; a <= E2END; a++) {
        eeprom_update_byte((uint8_t *)a, 0xFFu);
    }
    expect_refused(NNRT_ERR_MISSING);
    TEST_ASSERT_EQUAL_INT(0, nnmodel_eeprom_write());
    TEST_ASSERT_EQUAL_INT(NNRT_OK, nnmodel_check());
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_intact_image_runs_the_firmware);
    RUN_TEST(test_one_flipped_payload_bit_is_refused_as_corrupt);
    RUN_TEST(test_another_models_hash_is_refused_as_stale);
    RUN_TEST(test_erased_eeprom_is_refused_as_missing_until_written);
    return UNITY_END();
}
